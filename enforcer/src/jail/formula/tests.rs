use super::*;

fn ev(src: &str, time: i64, count: i64, factor: f64) -> f64 {
    Formula::parse(src)
        .unwrap()
        .eval(&Vars {
            ban_time: Value::Int(time),
            ban_count: count,
            ban_factor: Value::Float(factor),
        })
        .unwrap()
        .as_f64()
}

#[test]
fn stock_default_formula() {
    let f = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";
    // Values Python prints for bantime 600, factor 1.
    let want = [600.0, 1200.0, 2400.0, 4800.0, 9600.0];
    for (c, w) in want.iter().enumerate() {
        assert_eq!(ev(f, 600, c as i64, 1.0), *w);
    }
    assert_eq!(ev(f, 600, 25, 1.0), 600.0 * (1u64 << 20) as f64);
}

#[test]
fn stock_exp_formula() {
    let f = "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)";
    let factor = Formula::eval_const("2.0 / 2.885385").unwrap().as_f64();
    // python3: 600*math.exp(float(c+1)*k)/math.exp(1*k), k = 2.0/2.885385
    let want = [
        600.0,
        1200.0014649367868,
        2400.0058597507245,
        4800.017579262904,
    ];
    for (c, w) in want.iter().enumerate() {
        let got = ev(f, 600, c as i64, factor);
        assert!((got - w).abs() < 1e-6, "count {c}: {got} vs {w}");
    }
}

#[test]
fn operators_follow_python() {
    assert_eq!(ev("7 // 2", 0, 0, 1.0), 3.0);
    assert_eq!(ev("-7 // 2", 0, 0, 1.0), -4.0);
    assert_eq!(ev("-7 % 3", 0, 0, 1.0), 2.0);
    assert_eq!(ev("7 / 2", 0, 0, 1.0), 3.5);
    assert_eq!(ev("2 ** 10", 0, 0, 1.0), 1024.0);
    assert_eq!(ev("-2 ** 2", 0, 0, 1.0), -4.0);
    assert_eq!(ev("1 + 2 * 3 << 1", 0, 0, 1.0), 14.0);
    assert_eq!(ev("min(ban.Time, 100, 50) + max(1, 2)", 600, 0, 1.0), 52.0);
    assert_eq!(ev("1 if ban.Count > 2 and not 0 else 2", 0, 3, 1.0), 1.0);
    assert_eq!(ev("1 if ban.Count > 2 or False else 2", 0, 1, 1.0), 2.0);
    assert_eq!(ev("int(2.9) + round(2.5) + abs(-1)", 0, 0, 1.0), 5.0);
    assert_eq!(
        ev(
            "math.floor(2.5) + math.ceil(2.1) + math.sqrt(16) + math.pow(2, 3)",
            0,
            0,
            1.0
        ),
        17.0
    );
}

#[test]
fn rejects_anything_but_the_grammar() {
    for bad in [
        "__import__('os').system('id')",
        "ban.Time; 1",
        "open('/etc/passwd')",
        "ban.__class__",
        "lambda: 1",
        "1 +",
        "(1",
        "1 if 2",
        "min()",
        "'a'",
        "x",
    ] {
        assert!(Formula::parse(bad).is_err(), "{bad} must not parse");
    }
    let deep = "(".repeat(500) + "1" + &")".repeat(500);
    assert!(Formula::parse(&deep).is_err());
}

#[test]
fn evaluation_errors_are_errors() {
    for bad in [
        "1 / 0",
        "1.5 << 2",
        "1 << 64",
        "math.log(0)",
        "math.exp(1000)",
        "2 ** 100",
    ] {
        let f = Formula::parse(bad).unwrap();
        assert!(
            f.eval(&Vars {
                ban_time: Value::Int(1),
                ban_count: 0,
                ban_factor: Value::Int(1)
            })
            .is_err(),
            "{bad}"
        );
    }
}
