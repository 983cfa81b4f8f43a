-- A policy-loader script read from /lua/policy-script-file; with policy-script-only it must do everything.
local C = require('ffi').C
cache.open(10 * MB, 'lmdb://' .. worker.cwd .. '/../cache')
assert(C.kr_rule_local_address('only.example', '192.0.2.62', true, 300, 0, C.KR_RULE_OPTS_DEFAULT) == 0)
