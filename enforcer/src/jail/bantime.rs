//! Owns ban time: `bantime` (-1 = permanent) and `bantime.increment` with
//! `factor`, `formula`, `multipliers`, `maxtime`, `rndtime` and
//! `overalljails`, computed as fail2ban's jail/observer do; and the
//! [`BanStore`] trait through which previous bans are counted (the SQLite
//! store implements it).
use super::formula::{Formula, FormulaError, Value, Vars};
use super::ticket::Ticket;

/// fail2ban's default `bantime.formula`.
pub const DEFAULT_FORMULA: &str = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";

/// A previous ban of an address as the store has it (fail2ban's `bips` row,
/// or the sum over all jails with `overalljails`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BanRecord {
    pub ban_count: u32,
    pub time_of_ban: f64,
    pub ban_time: i64,
}

/// Failures and matches of an address merged over its stored bans (for the
/// `ipmatches`, `ipfailures`, `ipjailmatches`, `ipjailfailures` tags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedBans {
    pub failures: u32,
    pub matches: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("ban store: {0}")]
pub struct StoreError(pub String);

/// Persistence the jail reads and writes; implemented by `crate::store`.
pub trait BanStore: Send + Sync {
    /// The last ban of `ip` in `jail` (or summed over every jail when
    /// `overalljails`), `None` when it was never banned.
    fn get_ban(
        &self,
        ip: &str,
        jail: &str,
        overalljails: bool,
    ) -> Result<Option<BanRecord>, StoreError>;
    /// Records a ban that just happened (ban time and count already decided).
    fn add_ban(&self, jail: &str, ticket: &Ticket) -> Result<(), StoreError>;
    /// Forgets a ban (`ip = None`: every ban of the jail).
    fn del_ban(&self, jail: &str, ip: Option<&str>) -> Result<(), StoreError>;
    /// Bans of `ip` merged, in `jail` or in all jails (`None`).
    fn bans_merged(&self, ip: &str, jail: Option<&str>) -> Result<Option<MergedBans>, StoreError>;
    /// Bans of `jail` still current at `now` for restore after a restart
    /// (`forbantime`: the jail's ban time when increment is off).
    fn current_bans(
        &self,
        jail: &str,
        forbantime: Option<i64>,
        now: f64,
    ) -> Result<Vec<Ticket>, StoreError>;
    /// How many bans [`BanStore::current_bans`] would give (at most).
    fn count_current_bans(
        &self,
        jail: &str,
        forbantime: Option<i64>,
        now: f64,
    ) -> Result<usize, StoreError> {
        self.current_bans(jail, forbantime, now).map(|t| t.len())
    }
    /// [`BanStore::current_bans`] handed to `each` by the chunk as they are
    /// read (`each` returning false stops the read).
    fn current_bans_each(
        &self,
        jail: &str,
        forbantime: Option<i64>,
        now: f64,
        each: &mut dyn FnMut(Vec<Ticket>) -> bool,
    ) -> Result<(), StoreError> {
        each(self.current_bans(jail, forbantime, now)?);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BanTimeError {
    #[error("bantime.factor: {0}")]
    Factor(FormulaError),
    #[error("bantime.formula: {0}")]
    Formula(FormulaError),
    #[error("bantime.multipliers: {0:?} is not a list of integers")]
    Multipliers(String),
}

/// Settings of ban time for one jail.
#[derive(Debug, Clone)]
pub struct BanTimeSettings {
    pub bantime: i64,
    pub increment: bool,
    pub factor: Option<String>,
    pub formula: Option<String>,
    pub multipliers: Option<String>,
    pub maxtime: Option<i64>,
    pub rndtime: Option<i64>,
    pub overalljails: bool,
}

impl Default for BanTimeSettings {
    fn default() -> Self {
        BanTimeSettings {
            bantime: 600,
            increment: false,
            factor: None,
            formula: None,
            multipliers: None,
            maxtime: None,
            rndtime: None,
            overalljails: false,
        }
    }
}

/// The compiled ban time calculator (fail2ban's `evformula`).
#[derive(Debug, Clone)]
pub struct BanTime {
    pub settings: BanTimeSettings,
    factor: Value,
    formula: Formula,
    multipliers: Vec<i64>,
    rng: u64,
}

impl BanTime {
    pub fn new(settings: BanTimeSettings) -> Result<BanTime, BanTimeError> {
        let factor = match settings
            .factor
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(f) => Formula::eval_const(f).map_err(BanTimeError::Factor)?,
            None => Value::Int(1),
        };
        let formula_src = settings
            .formula
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let formula = Formula::parse(formula_src.unwrap_or(DEFAULT_FORMULA))
            .map_err(BanTimeError::Formula)?;
        let multipliers = match settings
            .multipliers
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(m) => m
                .split_whitespace()
                .map(|x| x.parse::<i64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| BanTimeError::Multipliers(m.to_string()))?,
            None => Vec::new(),
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            | 1;
        // Validate the formula once on typical values, so a formula that can
        // never evaluate is a load error rather than a silent fallback.
        let bt = BanTime {
            settings,
            factor,
            formula,
            multipliers,
            rng: seed,
        };
        if bt.multipliers.is_empty() {
            bt.formula
                .eval(&Vars {
                    ban_time: Value::Int(bt.settings.bantime.max(1)),
                    ban_count: 1,
                    ban_factor: factor,
                })
                .map_err(BanTimeError::Formula)?;
        }
        Ok(bt)
    }

    pub fn bantime(&self) -> i64 {
        self.settings.bantime
    }

    pub fn set_bantime(&mut self, v: i64) {
        self.settings.bantime = v;
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: unpredictable enough to spread unban times.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// fail2ban's `evformula(BanTimeIncr(ban_time, ban_count))`.
    pub fn calc(&mut self, ban_time: i64, ban_count: u32) -> Result<f64, FormulaError> {
        let mut t = if !self.multipliers.is_empty() {
            let m = self.multipliers[(ban_count as usize).min(self.multipliers.len() - 1)];
            ban_time as f64 * self.factor.as_f64() * m as f64
        } else {
            let v = self.formula.eval(&Vars {
                ban_time: Value::Int(ban_time),
                ban_count: ban_count as i64,
                ban_factor: self.factor,
            })?;
            v.as_f64().max(ban_time as f64)
        };
        if let Some(max) = self.settings.maxtime {
            t = t.min(max as f64);
        }
        if let Some(rnd) = self.settings.rndtime {
            t += self.random() * rnd as f64;
        }
        Ok(t)
    }

    /// fail2ban's observer `incrBanTime`: the ban time for `ticket` given its
    /// previous ban in the store. Sets the ticket's ban count to the stored
    /// count (the ban manager adds this ban), marks it restored when its time
    /// is not after the last ban.
    pub fn increment(
        &mut self,
        jail: &str,
        store: Option<&dyn BanStore>,
        ticket: &mut Ticket,
    ) -> Result<i64, StoreError> {
        let base = self.settings.bantime;
        if base <= 0 || !self.settings.increment {
            return Ok(base);
        }
        let (Some(store), Some(ip)) = (store, ticket.ip) else {
            return Ok(base);
        };
        let Some(rec) = store.get_ban(&ip.to_string(), jail, self.settings.overalljails)? else {
            return Ok(base);
        };
        // fail2ban raises the count after the ban manager counted this ban;
        // here the count is set before, and the ban manager adds the one.
        if rec.ban_count >= ticket.ban_count {
            ticket.ban_count = rec.ban_count;
        }
        let mut bt = base;
        if rec.ban_count > 0 {
            bt = self
                .calc(base, rec.ban_count)
                .map_err(|e| StoreError(e.to_string()))? as i64;
        }
        ticket.ban_time = Some(bt);
        if ticket.time <= rec.time_of_ban {
            ticket.restored = true;
        }
        Ok(bt)
    }

    /// fail2ban's `getMaxBanTime`.
    pub fn max_ban_time(&self) -> i64 {
        if self.settings.increment {
            self.settings.maxtime.unwrap_or(-1)
        } else {
            self.settings.bantime
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bt(s: BanTimeSettings) -> BanTime {
        BanTime::new(s).unwrap()
    }

    #[test]
    fn default_formula_doubles_and_is_capped_by_maxtime() {
        let mut b = bt(BanTimeSettings {
            bantime: 600,
            increment: true,
            ..Default::default()
        });
        let got: Vec<f64> = (0..6).map(|c| b.calc(600, c).unwrap()).collect();
        assert_eq!(got, [600.0, 1200.0, 2400.0, 4800.0, 9600.0, 19200.0]);
        let mut b = bt(BanTimeSettings {
            bantime: 600,
            increment: true,
            maxtime: Some(3000),
            ..Default::default()
        });
        let got: Vec<f64> = (0..6).map(|c| b.calc(600, c).unwrap()).collect();
        assert_eq!(got, [600.0, 1200.0, 2400.0, 3000.0, 3000.0, 3000.0]);
    }

    #[test]
    fn factor_scales_and_formula_never_goes_below_bantime() {
        let mut b = bt(BanTimeSettings {
            factor: Some("2".into()),
            ..Default::default()
        });
        assert_eq!(b.calc(600, 1).unwrap(), 2400.0);
        let mut b = bt(BanTimeSettings {
            formula: Some("ban.Time / 10".into()),
            ..Default::default()
        });
        assert_eq!(b.calc(600, 3).unwrap(), 600.0);
    }

    #[test]
    fn multipliers_index_by_count_and_stick_at_the_last() {
        let mut b = bt(BanTimeSettings {
            multipliers: Some("1 5 30 60".into()),
            factor: Some("1".into()),
            ..Default::default()
        });
        let got: Vec<f64> = (0..7).map(|c| b.calc(60, c).unwrap()).collect();
        assert_eq!(got, [60.0, 300.0, 1800.0, 3600.0, 3600.0, 3600.0, 3600.0]);
        // Multipliers are not floored at ban.Time (fail2ban applies max() to formulas only).
        let mut b = bt(BanTimeSettings {
            multipliers: Some("0 1".into()),
            ..Default::default()
        });
        assert_eq!(b.calc(60, 0).unwrap(), 0.0);
        assert!(
            BanTime::new(BanTimeSettings {
                multipliers: Some("1 x".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn rndtime_adds_within_bounds() {
        let mut b = bt(BanTimeSettings {
            rndtime: Some(100),
            maxtime: Some(1000),
            ..Default::default()
        });
        let mut seen_low = false;
        let mut seen_high = false;
        for c in 0..2000 {
            let v = b.calc(600, 3).unwrap();
            assert!((1000.0..1100.0).contains(&v), "{c}: {v}");
            seen_low |= v < 1050.0;
            seen_high |= v >= 1050.0;
        }
        assert!(
            seen_low && seen_high,
            "rndtime spreads values over its range"
        );
    }

    #[test]
    fn bad_formula_or_factor_is_a_load_error() {
        assert!(
            BanTime::new(BanTimeSettings {
                formula: Some("os.system('x')".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            BanTime::new(BanTimeSettings {
                factor: Some("1 +".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            BanTime::new(BanTimeSettings {
                formula: Some("ban.Time / 0".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn max_ban_time() {
        let b = bt(BanTimeSettings {
            bantime: 600,
            ..Default::default()
        });
        assert_eq!(b.max_ban_time(), 600);
        let b = bt(BanTimeSettings {
            bantime: 600,
            increment: true,
            ..Default::default()
        });
        assert_eq!(b.max_ban_time(), -1);
        let b = bt(BanTimeSettings {
            bantime: 600,
            increment: true,
            maxtime: Some(7200),
            ..Default::default()
        });
        assert_eq!(b.max_ban_time(), 7200);
    }
}
