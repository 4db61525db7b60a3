//! Owns turning log lines into failures: fail2ban regex translation, tag
//! expansion, the date detector, and the matching pipeline (prefregex,
//! failregex, ignoreregex, multi-line).
