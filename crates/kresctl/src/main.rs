//! `kresctl`: the command-line client of the Knot Resolver 6 manager (see the library for the commands).

fn main() -> std::process::ExitCode {
    kresctl::main()
}
