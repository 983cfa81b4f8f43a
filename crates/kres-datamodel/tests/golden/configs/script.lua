-- A worker script read from /lua/script-file.
function kres_test_custom()
    return 'worker-script'
end
