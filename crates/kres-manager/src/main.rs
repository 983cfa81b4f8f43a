//! `knot-resolver`: the supervisor when started by a user or systemd, the manager when started by the
//! supervisor (it sets `KRES_SUPERVISOR_SOCKET`).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(kres_manager::run_main().clamp(0, 255) as u8)
}
