//! Replays one input of a target on stable, without libFuzzer, and prints
//! what the session did (set `TWINKV_FUZZ_TRACE=1` for the fault oracle's
//! view: the strike, the log entries it may take away, the rollback):
//!
//! ```sh
//! cd fuzz && TWINKV_FUZZ_TRACE=1 cargo run --example replay -- ops_with_power_loss regressions/ops_with_power_loss/<file>
//! ```
use twinkv_fuzz::{image, ops};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: replay <target> <file>");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).expect("read input");
    match target.as_str() {
        "ops" => {
            let i = ops::OpsInput::from_bytes(&bytes).expect("decodes");
            println!("{:?}\n{:#?}", i.setup, i.fault);
            for s in twinkv_fuzz::script::parse(&i.script) {
                println!("  {s:?}");
            }
            println!("{:?}", ops::check_ops(&i));
        }
        "ops_with_power_loss" => {
            let i = ops::PowerInput::from_bytes(&bytes).expect("decodes");
            println!("{:?}\n{:?}\n{:?}", i.setup, i.cuts, i.fault);
            for (n, s) in twinkv_fuzz::script::parse(&i.script).iter().enumerate() {
                println!("  {n}: {s:?}");
            }
            println!("{:?}", ops::check_power(&i));
        }
        "open_image" => {
            let i = image::ImageInput::from_bytes(&bytes).expect("decodes");
            println!("opened: {}", image::check(&i).opened);
        }
        t => panic!("unknown target {t}"),
    }
}
