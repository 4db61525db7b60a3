//! `status JAIL` flavors.
use super::*;

#[test]
fn status_flavors() {
    let mut a = Actions::new("sshd", 600, None, None);
    a.ban(&["198.18.0.1".into(), "198.18.0.2".into()], NOW)
        .unwrap();
    a.unban(Some(&["198.18.0.1".into()]), false, NOW).unwrap();
    let f = status::filter_section(1, 10, &["/var/log/auth.log".into()], None);
    let st = a.jail_status(f.clone(), Flavor::Basic);
    assert_eq!(
        st.text(),
        "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t1\n|  |- Total failed:\t10\n|  `- File list:\t/var/log/auth.log\n`- Actions\n   |- Currently banned:\t1\n   |- Total banned:\t2\n   `- Banned IP list:\t198.18.0.2"
    );
    let short = a.jail_status(f, Flavor::Short);
    assert!(!short.text().contains("Banned IP list"));
    assert_eq!(short.json()["Actions"]["Total banned"], 2);
    assert_eq!("stats".parse::<Flavor>().unwrap(), Flavor::Stats);
    assert!("bogus".parse::<Flavor>().is_err());
}
