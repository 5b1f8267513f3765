//! `slabscope-bench`: runs the allocator binaries side by side (see the crate docs).

fn main() -> std::process::ExitCode {
    slabscope_bench::driver::main()
}
