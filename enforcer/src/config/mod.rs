//! Owns reading fail2ban-format configuration: the INI reader with fail2ban's
//! rules, file layering and includes, interpolation, filter/action parameters,
//! config-time tag substitution, time values, and the validated typed model.
