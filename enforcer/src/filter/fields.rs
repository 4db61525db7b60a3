//! Owns the group data of a failure without a map per match: [`Names`],
//! every group name a filter's regexes can give, sorted, so that a name is
//! a slot number; [`Slots`], a match's values by slot (fail2ban's failure
//! dict), whose strings are reused from match to match; and [`Fields`],
//! the shown part of a [`super::Failure`]'s groups, sharing the slots it
//! was made from (copied only if the filter changes them while a failure
//! still holds them).
use std::collections::BTreeMap;
use std::sync::Arc;

/// The slots of the names the tracker reads (always present in [`Names`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Special {
    pub nofail: usize,
    pub mlfpending: usize,
    pub mlfgained: usize,
    pub mlfforget: usize,
    pub mlfid: usize,
    pub user: usize,
    pub fid: usize,
    pub ip4: usize,
    pub ip6: usize,
    pub dns: usize,
    pub content: usize,
}

/// The group names of a filter, sorted (the order fail2ban's dict of
/// groups is shown in): slot `k` is `names[k]`.
#[derive(Debug, Default)]
pub struct Names {
    names: Vec<String>,
    /// Whether a slot is one of a failure's fields (not a special key).
    shown: Vec<bool>,
    pub sp: Special,
}

impl Names {
    /// The names given plus the special ones, sorted, without repeats.
    pub fn new<'a>(given: impl IntoIterator<Item = &'a str>) -> Names {
        const SPECIAL: [&str; 11] = [
            "nofail",
            "mlfpending",
            "mlfgained",
            "mlfforget",
            "mlfid",
            "user",
            "fid",
            "ip4",
            "ip6",
            "dns",
            "content",
        ];
        let mut names: Vec<String> = given
            .into_iter()
            .chain(SPECIAL)
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        let shown = names
            .iter()
            .map(|k| !matches!(k.as_str(), "nofail" | "mlfpending" | "content"))
            .collect();
        let mut n = Names {
            names,
            shown,
            sp: Special::default(),
        };
        let id = |k: &str| n.id(k).expect("special names are always there");
        n.sp = Special {
            nofail: id("nofail"),
            mlfpending: id("mlfpending"),
            mlfgained: id("mlfgained"),
            mlfforget: id("mlfforget"),
            mlfid: id("mlfid"),
            user: id("user"),
            fid: id("fid"),
            ip4: id("ip4"),
            ip6: id("ip6"),
            dns: id("dns"),
            content: id("content"),
        };
        n
    }

    /// The slot of a name.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Empty slots for these names.
    pub fn slots(&self) -> Slots {
        Slots {
            vals: vec![String::new(); self.len()],
            set: vec![false; self.len()],
        }
    }
}

/// Group values by slot: a slot is set (has a value, maybe empty) or not.
/// The value strings of unset slots keep their buffers for the next match.
#[derive(Debug, Default)]
pub struct Slots {
    vals: Vec<String>,
    set: Vec<bool>,
}

impl Clone for Slots {
    /// Copies only the set values.
    fn clone(&self) -> Slots {
        Slots {
            vals: (self.vals.iter().zip(&self.set))
                .map(|(v, &s)| if s { v.clone() } else { String::new() })
                .collect(),
            set: self.set.clone(),
        }
    }
}

impl Slots {
    /// Unsets every slot.
    pub fn clear(&mut self) {
        self.set.fill(false);
    }

    pub fn is_empty(&self) -> bool {
        !self.set.contains(&true)
    }

    pub fn is_set(&self, k: usize) -> bool {
        self.set[k]
    }

    pub fn get(&self, k: usize) -> Option<&str> {
        self.set[k].then(|| self.vals[k].as_str())
    }

    /// Python truthiness of a slot's value.
    pub fn truthy(&self, k: usize) -> bool {
        self.set[k] && !self.vals[k].is_empty()
    }

    pub fn set(&mut self, k: usize, v: &str) {
        let s = &mut self.vals[k];
        s.clear();
        s.push_str(v);
        self.set[k] = true;
    }

    pub fn unset(&mut self, k: usize) {
        self.set[k] = false;
    }

    /// Unsets a slot; whether its value was truthy.
    pub fn pop_truthy(&mut self, k: usize) -> bool {
        let t = self.truthy(k);
        self.set[k] = false;
        t
    }

    /// Sets `to` to the value of `from` (which is set).
    pub fn copy(&mut self, from: usize, to: usize) {
        if from != to {
            let mut s = std::mem::take(&mut self.vals[to]);
            s.clear();
            s.push_str(&self.vals[from]);
            self.vals[to] = s;
        }
        self.set[to] = true;
    }

    /// fail2ban's tuple group: `to` becomes "{to}\t{from}" (unset = "").
    pub fn push_tuple(&mut self, from: usize, to: usize) {
        let mut s = std::mem::take(&mut self.vals[to]);
        let old = if self.set[to] { s.len() } else { 0 };
        s.truncate(old);
        s.push('\t');
        if from == to {
            let v = s[..old].to_string();
            s.push_str(&v);
        } else if self.set[from] {
            s.push_str(&self.vals[from]);
        }
        self.vals[to] = s;
        self.set[to] = true;
    }

    /// Sets the slots set in `o` (those in `ks`) and not here to `o`'s values.
    pub fn fill_from(&mut self, o: &Slots, ks: &[usize]) {
        for &k in ks {
            if o.set[k] && !self.set[k] {
                self.set(k, &o.vals[k]);
            }
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Becomes a copy of `o` (of the same names).
    pub fn assign(&mut self, o: &Slots) {
        for k in 0..self.set.len() {
            if o.set[k] {
                self.set(k, &o.vals[k]);
            } else {
                self.set[k] = false;
            }
        }
    }

    /// Sets every slot set in `o` to `o`'s value (`o` wins).
    pub fn update(&mut self, o: &Slots) {
        for k in 0..self.set.len() {
            if o.set[k] {
                self.set(k, &o.vals[k]);
            }
        }
    }
}

/// A failure's groups (lower-case capture names: user, alt_user, fport,
/// mlfid, skiplinesN, ...), in name order, without the special keys
/// (nofail, mlfpending, content), as fail2ban's ticket data has them.
#[derive(Clone, Default)]
pub struct Fields {
    names: Arc<Names>,
    vals: Arc<Slots>,
}

impl Fields {
    pub fn new(names: Arc<Names>, vals: Arc<Slots>) -> Fields {
        Fields { names, vals }
    }

    /// Points at `names` and `vals` (shares them: no copy).
    pub fn set(&mut self, names: &Arc<Names>, vals: &Arc<Slots>) {
        self.names.clone_from(names);
        self.vals.clone_from(vals);
    }

    /// Lets go of the values it shares for `blank` (a kept failure must
    /// not hold the filter's groups: the next line's would be copied).
    pub fn release(&mut self, blank: &Arc<Slots>) {
        self.vals.clone_from(blank);
    }

    /// A field's value.
    pub fn get(&self, k: &str) -> Option<&String> {
        let id = self.names.id(k)?;
        (self.names.shown[id] && self.vals.set[id]).then(|| &self.vals.vals[id])
    }

    /// (name, value) in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { f: self, k: 0 }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The fields as a map (a ticket's data).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a String, &'a String);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// [`Fields::iter`].
pub struct Iter<'a> {
    f: &'a Fields,
    k: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a String);
    fn next(&mut self) -> Option<Self::Item> {
        let (n, v) = (&*self.f.names, &*self.f.vals);
        let end = v.set.len().min(n.len());
        while self.k < end {
            let k = self.k;
            self.k += 1;
            if v.set[k] && n.shown[k] {
                return Some((&n.names[k], &v.vals[k]));
            }
        }
        None
    }
}

impl PartialEq for Fields {
    fn eq(&self, o: &Fields) -> bool {
        self.iter().eq(o.iter())
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_name_order_and_hide_special_keys() {
        let names = Arc::new(Names::new(["port", "alt_user", "skiplines1"]));
        let mut s = names.slots();
        let id = |k| names.id(k).unwrap();
        s.set(id("user"), "root");
        s.set(id("nofail"), "x");
        s.set(id("port"), "22");
        s.set(id("skiplines1"), "l");
        s.set(id("alt_user"), "");
        let f = Fields::new(names.clone(), Arc::new(s.clone()));
        let got: Vec<_> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("alt_user", ""),
                ("port", "22"),
                ("skiplines1", "l"),
                ("user", "root")
            ]
        );
        assert_eq!(f.get("nofail"), None);
        assert_eq!(f.get("user").map(String::as_str), Some("root"));
        s.push_tuple(id("port"), id("user"));
        assert_eq!(s.get(id("user")), Some("root\t22"));
        s.unset(id("fid"));
        s.push_tuple(id("port"), id("fid"));
        assert_eq!(s.get(id("fid")), Some("\t22"));
        assert!(s.pop_truthy(id("port")) && !s.is_set(id("port")));
        // an unset slot's old text is not copied
        let c = s.clone();
        assert_eq!(c.get(id("port")), None);
        assert_eq!(c.get(id("user")), Some("root\t22"));
    }
}
