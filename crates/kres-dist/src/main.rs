//! `kres-dist OUT_DIR`: writes the man pages and shell completions of `knot-resolver` and `kresctl` into OUT_DIR
//! (`man/man8/*.8`, `bash-completion/completions/*`, `fish/vendor_completions.d/*.fish`,
//! `zsh/vendor-completions/_*`). Run by `cargo xtask dist`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: kres-dist OUT_DIR");
        return ExitCode::from(2);
    };
    match kres_dist::generate(&PathBuf::from(out)) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kres-dist: cannot write into {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
