//! Tree to value, with Python's int/float rules (`/` is float, `//` floors;
//! ints past i64 become floats in arithmetic, and are an error where Python
//! would need a big int: shifts, negation, `abs`).
use super::{Expr, FormulaError, Func, Value, Var, Vars};

fn int_or_float(
    a: Value,
    b: Value,
    fi: fn(i64, i64) -> Option<i64>,
    ff: fn(f64, f64) -> f64,
) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match fi(x, y) {
            Some(v) => Value::Int(v),
            None => Value::Float(ff(x as f64, y as f64)),
        },
        _ => Value::Float(ff(a.as_f64(), b.as_f64())),
    }
}

fn ints(op: &str, a: Value, b: Value) -> Result<(i64, i64), FormulaError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok((x, y)),
        _ => Err(FormulaError::Eval(format!(
            "unsupported operand type(s) for {op}: float"
        ))),
    }
}

pub(super) fn eval(e: &Expr, v: &Vars) -> Result<Value, FormulaError> {
    Ok(match e {
        Expr::Num(n) => *n,
        Expr::Var(Var::Time) => v.ban_time,
        Expr::Var(Var::Count) => Value::Int(v.ban_count),
        Expr::Var(Var::Factor) => v.ban_factor,
        Expr::Unary(op, x) => {
            let x = eval(x, v)?;
            match (*op, x) {
                ("-", Value::Int(i)) => Value::Int(i.checked_neg().ok_or_else(overflow)?),
                ("-", Value::Float(f)) => Value::Float(-f),
                ("+", x) => x,
                ("~", Value::Int(i)) => Value::Int(!i),
                ("not", x) => Value::Int(!x.truthy() as i64),
                _ => return Err(FormulaError::Eval(format!("bad operand for unary {op}"))),
            }
        }
        Expr::Cond(then, cond, other) => {
            if eval(cond, v)?.truthy() {
                eval(then, v)?
            } else {
                eval(other, v)?
            }
        }
        Expr::Bin("and", l, r) => {
            let a = eval(l, v)?;
            if !a.truthy() { a } else { eval(r, v)? }
        }
        Expr::Bin("or", l, r) => {
            let a = eval(l, v)?;
            if a.truthy() { a } else { eval(r, v)? }
        }
        Expr::Bin(op, l, r) => {
            let a = eval(l, v)?;
            let b = eval(r, v)?;
            binop(op, a, b)?
        }
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, v))
                .collect::<Result<Vec<_>, _>>()?;
            call(*f, &vals)?
        }
    })
}

fn overflow() -> FormulaError {
    FormulaError::Eval("integer overflow".into())
}

fn binop(op: &str, a: Value, b: Value) -> Result<Value, FormulaError> {
    let zero = |b: Value| b.as_f64() == 0.0;
    Ok(match op {
        "+" => int_or_float(a, b, i64::checked_add, |x, y| x + y),
        "-" => int_or_float(a, b, i64::checked_sub, |x, y| x - y),
        "*" => int_or_float(a, b, i64::checked_mul, |x, y| x * y),
        "/" => {
            if zero(b) {
                return Err(FormulaError::Eval("division by zero".into()));
            }
            Value::Float(a.as_f64() / b.as_f64())
        }
        "//" => {
            if zero(b) {
                return Err(FormulaError::Eval("division by zero".into()));
            }
            int_or_float(
                a,
                b,
                |x, y| Some(x.div_euclid(y) - if (x % y != 0) && (y < 0) { 1 } else { 0 }),
                |x, y| (x / y).floor(),
            )
        }
        "%" => {
            if zero(b) {
                return Err(FormulaError::Eval("modulo by zero".into()));
            }
            int_or_float(
                a,
                b,
                |x, y| Some(((x % y) + y) % y),
                |x, y| x - y * (x / y).floor(),
            )
        }
        "**" => match (a, b) {
            (Value::Int(x), Value::Int(y)) if y >= 0 => Value::Int(
                u32::try_from(y)
                    .ok()
                    .and_then(|y| x.checked_pow(y))
                    .ok_or_else(overflow)?,
            ),
            _ => Value::Float(a.as_f64().powf(b.as_f64())),
        },
        "<<" => {
            let (x, y) = ints(op, a, b)?;
            if !(0..63).contains(&y) {
                return Err(FormulaError::Eval("shift count out of range".into()));
            }
            Value::Int(x.checked_mul(1i64 << y).ok_or_else(overflow)?)
        }
        ">>" => {
            let (x, y) = ints(op, a, b)?;
            if y < 0 {
                return Err(FormulaError::Eval("negative shift count".into()));
            }
            Value::Int(x >> y.min(63))
        }
        "&" => {
            let (x, y) = ints(op, a, b)?;
            Value::Int(x & y)
        }
        "|" => {
            let (x, y) = ints(op, a, b)?;
            Value::Int(x | y)
        }
        "^" => {
            let (x, y) = ints(op, a, b)?;
            Value::Int(x ^ y)
        }
        "<" => Value::Int((a.as_f64() < b.as_f64()) as i64),
        ">" => Value::Int((a.as_f64() > b.as_f64()) as i64),
        "<=" => Value::Int((a.as_f64() <= b.as_f64()) as i64),
        ">=" => Value::Int((a.as_f64() >= b.as_f64()) as i64),
        "==" => Value::Int((a.as_f64() == b.as_f64()) as i64),
        "!=" => Value::Int((a.as_f64() != b.as_f64()) as i64),
        _ => return Err(FormulaError::Eval(format!("unknown operator {op}"))),
    })
}

fn call(f: Func, a: &[Value]) -> Result<Value, FormulaError> {
    let x = a[0];
    let fl = |v: f64| {
        if v.is_finite() {
            Ok(Value::Float(v))
        } else {
            Err(FormulaError::Eval("math range error".into()))
        }
    };
    let to_int = |v: f64| {
        if v.is_finite() && v.abs() < 9.2e18 {
            Ok(Value::Int(v as i64))
        } else {
            Err(FormulaError::Eval("cannot convert to integer".into()))
        }
    };
    match f {
        Func::Min | Func::Max => {
            let mut best = x;
            for &v in &a[1..] {
                let better = if matches!(f, Func::Min) {
                    v.as_f64() < best.as_f64()
                } else {
                    v.as_f64() > best.as_f64()
                };
                if better {
                    best = v;
                }
            }
            Ok(best)
        }
        Func::Abs => Ok(match x {
            Value::Int(i) => Value::Int(i.checked_abs().ok_or_else(overflow)?),
            Value::Float(v) => Value::Float(v.abs()),
        }),
        Func::Int => match x {
            Value::Int(_) => Ok(x),
            Value::Float(v) => to_int(v.trunc()),
        },
        Func::Float => Ok(Value::Float(x.as_f64())),
        Func::Round => match a.get(1) {
            None => match x {
                Value::Int(_) => Ok(x),
                Value::Float(v) => to_int(v.round_ties_even()),
            },
            Some(n) => {
                let p = 10f64.powi(n.as_f64() as i32);
                fl((x.as_f64() * p).round_ties_even() / p)
            }
        },
        Func::Exp => fl(x.as_f64().exp()),
        Func::Log => {
            let v = x.as_f64();
            if v <= 0.0 {
                return Err(FormulaError::Eval("math domain error".into()));
            }
            match a.get(1) {
                None => fl(v.ln()),
                Some(b) => fl(v.ln() / b.as_f64().ln()),
            }
        }
        Func::Sqrt => {
            if x.as_f64() < 0.0 {
                return Err(FormulaError::Eval("math domain error".into()));
            }
            fl(x.as_f64().sqrt())
        }
        Func::Pow => fl(x.as_f64().powf(a[1].as_f64())),
        Func::Floor => to_int(x.as_f64().floor()),
        Func::Ceil => to_int(x.as_f64().ceil()),
    }
}
