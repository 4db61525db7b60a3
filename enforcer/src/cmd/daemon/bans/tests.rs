//! The ban book's unit tests, on the in-memory plane.
use super::{fake::FakePlane, *};

fn net(s: &str) -> IpNet {
    crate::control::parse_target(s).unwrap()
}

#[test]
fn purge_removes_exactly_what_is_due() {
    let book = BanBook::new(FakePlane::with_capacity(100));
    let t = now();
    book.ban(&[net("198.18.0.1")], 0, Some(t + 10)).unwrap();
    book.ban(&[net("198.18.0.2")], 0, Some(t + 20)).unwrap();
    book.ban(&[net("198.18.0.0/24")], 0, None).unwrap();
    assert_eq!(book.purge(t), Some(t + 10));
    assert_eq!(book.plane().list().unwrap().len(), 3);
    assert_eq!(book.purge(t + 10), Some(t + 20));
    assert_eq!(book.plane().list().unwrap().len(), 2);
    // Re-banning permanently cancels the scheduled expiry.
    book.ban(&[net("198.18.0.2")], 0, None).unwrap();
    assert_eq!(book.purge(t + 100), None);
    assert_eq!(book.plane().list().unwrap().len(), 2);
}

#[test]
fn a_full_map_reports_how_far_it_got() {
    let book = BanBook::new(FakePlane::with_capacity(2));
    let nets = [net("198.18.0.1"), net("198.18.0.2"), net("198.18.0.3")];
    let err = book.ban(&nets, 0, None).unwrap_err();
    assert_eq!((err.applied, err.total), (2, 3));
    assert!(matches!(err.error, PlaneError::Full(_)));
}

#[test]
fn unban_without_a_jail_lifts_every_jails_ban() {
    let book = BanBook::new(FakePlane::with_capacity(100));
    let a = net("2001:db8::1");
    book.ban(&[a], 0, Some(now() + 100)).unwrap();
    book.ban(&[a], 1, None).unwrap();
    book.ban(&[net("198.18.0.9")], 1, None).unwrap();
    assert!(book.unban(a, None).unwrap());
    assert!(!book.unban(a, None).unwrap());
    assert_eq!(book.plane().list().unwrap().len(), 1);
    assert_eq!(book.purge(now() + 1000), None, "schedule cleared too");
    assert_eq!(book.unban_all(None).unwrap(), 1);
    assert!(book.plane().list().unwrap().is_empty());
}

#[test]
fn restore_schedules_bans_found_in_the_maps() {
    let plane = FakePlane::with_capacity(100);
    let t = now();
    plane.ban(net("198.18.0.1"), 0, Some(t - 5)).unwrap();
    plane.ban(net("198.18.0.2"), 0, None).unwrap();
    plane.ban(net("198.18.0.3"), 0, Some(t + 50)).unwrap();
    let book = BanBook::new(plane);
    assert_eq!(book.purge_dead().unwrap(), 1, "the dead entry goes");
    assert_eq!(book.restore().unwrap(), 2);
    assert_eq!(book.list().unwrap().len(), 2);
    assert_eq!(book.purge(t), Some(t + 50), "the timed ban is scheduled");
    assert_eq!(book.purge(t + 50), None);
    assert_eq!(book.plane().list().unwrap().len(), 1);
}

#[tokio::test]
async fn the_expiry_task_wakes_for_a_new_earlier_ban() {
    let book = Arc::new(BanBook::new(FakePlane::with_capacity(100)));
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(expire(book.clone(), rx));
    tokio::time::sleep(Duration::from_millis(50)).await;
    book.ban(&[net("198.18.0.1")], 0, Some(now() + 1)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !book.plane().list().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "ban never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
}
