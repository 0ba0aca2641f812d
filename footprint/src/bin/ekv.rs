//! ekv: open (mount, format if there is no database), set 3 keys (one write
//! transaction each, like a `set`), get them.

#![no_std]
#![no_main]

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use panic_halt as _;
use twinkv_footprint::{key, matches, value, KEYS};

fn work() -> bool {
    let mut config = ekv::Config::default();
    config.random_seed = 0x5EED;
    let db = ekv::Database::<_, NoopRawMutex>::new(twinkv_footprint::ekv_units(), config);
    embassy_futures::block_on(async {
        if db.mount().await.is_err() && db.format().await.is_err() {
            return false;
        }
        for i in 0..KEYS.len() {
            let mut tx = db.write_transaction().await;
            if tx.write(&key(i), value(i)).await.is_err() || tx.commit().await.is_err() {
                return false;
            }
        }
        let mut buf = [0u8; 32];
        for i in 0..KEYS.len() {
            let tx = db.read_transaction().await;
            match tx.read(&key(i), &mut buf).await {
                Ok(n) if matches(i, &buf[..n]) => {}
                _ => return false,
            }
        }
        true
    })
}

#[cortex_m_rt::entry]
fn main() -> ! {
    twinkv_footprint::measure("ekv", work)
}
