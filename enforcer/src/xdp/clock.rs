//! Converts wall-clock expiries (unix seconds, what jails and the store
//! speak) to the kernel's CLOCK_BOOTTIME nanoseconds (what the XDP program
//! compares with `bpf_ktime_get_boot_ns`) and back. BOOTTIME keeps counting
//! across suspend and is not affected by wall-clock steps.
use std::time::{SystemTime, UNIX_EPOCH};

/// A simultaneous reading of both clocks.
#[derive(Clone, Copy, Debug)]
pub struct Clocks {
    /// Unix time, nanoseconds.
    pub wall_ns: i128,
    /// CLOCK_BOOTTIME, nanoseconds.
    pub boot_ns: u64,
}

impl Clocks {
    pub fn now() -> Clocks {
        let wall_ns = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        Clocks {
            wall_ns,
            boot_ns: boottime_ns(),
        }
    }

    /// Kernel expiry for a unix-seconds expiry; `None` (permanent) is 0.
    /// An expiry already past maps to "now" (never 0), so it is expired.
    pub fn to_kernel(&self, expiry: Option<i64>) -> u64 {
        let Some(secs) = expiry else { return 0 };
        let delta = secs as i128 * 1_000_000_000 - self.wall_ns;
        let at = self.boot_ns as i128 + delta;
        if delta <= 0 {
            return self.boot_ns.max(1);
        }
        at.min(u64::MAX as i128) as u64
    }

    /// Unix seconds (rounded up) for a kernel expiry; 0 = permanent = None.
    pub fn to_wall(&self, kernel_ns: u64) -> Option<i64> {
        if kernel_ns == 0 {
            return None;
        }
        let wall = self.wall_ns + (kernel_ns as i128 - self.boot_ns as i128);
        Some(wall.div_euclid(1_000_000_000) as i64 + i64::from(wall.rem_euclid(1_000_000_000) != 0))
    }

    /// Whether a kernel expiry has passed (the program then passes the
    /// packet).
    pub fn expired(&self, kernel_ns: u64) -> bool {
        kernel_ns != 0 && self.boot_ns >= kernel_ns
    }
}

/// CLOCK_BOOTTIME now, in nanoseconds.
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; CLOCK_BOOTTIME exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME) cannot fail on Linux");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks() -> Clocks {
        Clocks {
            wall_ns: 1_700_000_000 * 1_000_000_000,
            boot_ns: 5_000_000_000,
        }
    }

    #[test]
    fn permanent_is_zero_both_ways() {
        assert_eq!(clocks().to_kernel(None), 0);
        assert_eq!(clocks().to_wall(0), None);
    }

    #[test]
    fn future_expiry_round_trips() {
        let c = clocks();
        let k = c.to_kernel(Some(1_700_000_600));
        assert_eq!(k, 5_000_000_000 + 600 * 1_000_000_000);
        assert_eq!(c.to_wall(k), Some(1_700_000_600));
        assert!(!c.expired(k));
    }

    #[test]
    fn past_expiry_is_already_expired() {
        let c = clocks();
        let k = c.to_kernel(Some(1_600_000_000));
        assert_ne!(k, 0);
        assert!(c.expired(k));
        let k = c.to_kernel(Some(1_700_000_000));
        assert!(c.expired(k));
    }

    #[test]
    fn boottime_advances() {
        let a = boottime_ns();
        let b = boottime_ns();
        assert!(b >= a && a > 0);
    }
}
