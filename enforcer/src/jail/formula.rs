//! Owns `bantime.formula` and `bantime.factor`: a small, safe evaluator for
//! the Python expression subset the stock formulas use (`ban.Time`,
//! `ban.Count`, `banFactor`, arithmetic, `<<`/`>>`, comparisons, `and`/`or`/
//! `not`, `x if c else y`, `min`/`max`/`abs`/`int`/`float`/`round`, and
//! `math.exp`/`log`/`sqrt`/`pow`/`floor`/`ceil`). It parses to a tree once and
//! evaluates it; nothing is ever handed to an interpreter.
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormulaError {
    #[error("formula {0:?}: {1}")]
    Parse(String, String),
    #[error("formula evaluation: {0}")]
    Eval(String),
}

/// A Python number: ints and floats behave differently for `/`, `<<`, `//`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }
    fn truthy(self) -> bool {
        self.as_f64() != 0.0
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// The names a formula may read.
#[derive(Debug, Clone, Copy)]
pub struct Vars {
    pub ban_time: Value,
    pub ban_count: i64,
    pub ban_factor: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Value),
    Name(String),
    Op(&'static str),
}

#[derive(Debug, Clone)]
enum Expr {
    Num(Value),
    Var(Var),
    Unary(&'static str, Box<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>), // then, cond, else
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy)]
enum Var {
    Time,
    Count,
    Factor,
}

#[derive(Debug, Clone, Copy)]
enum Func {
    Min,
    Max,
    Abs,
    Int,
    Float,
    Round,
    Exp,
    Log,
    Sqrt,
    Pow,
    Floor,
    Ceil,
}

/// A parsed formula.
#[derive(Debug, Clone)]
pub struct Formula {
    src: String,
    expr: Expr,
}

const OPS: &[&str] = &[
    "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")",
    ",", "&", "|", "^", "~",
];

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            let mut float = false;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                float |= b[i] == b'.';
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                float = true;
                i += 1;
                if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text = src[start..i].replace('_', "");
            let v = if float {
                Value::Float(text.parse().map_err(|_| format!("bad number {text:?}"))?)
            } else {
                Value::Int(text.parse().map_err(|_| format!("bad number {text:?}"))?)
            };
            out.push(Tok::Num(v));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Name(src[start..i].to_string()));
        } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!(
                "unexpected character {:?}",
                src[i..].chars().next().unwrap_or('?')
            ));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == kw)
    }
    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.is_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {op:?}"))
        }
    }
    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > 64 {
            Err("expression nested too deeply".into())
        } else {
            Ok(())
        }
    }

    // test: or_test ['if' or_test 'else' test]
    fn test(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let then = self.or_test()?;
        let r = if self.is_kw("if") {
            self.pos += 1;
            let cond = self.or_test()?;
            if !self.is_kw("else") {
                return Err("expected 'else'".into());
            }
            self.pos += 1;
            let other = self.test()?;
            Expr::Cond(Box::new(then), Box::new(cond), Box::new(other))
        } else {
            then
        };
        self.depth -= 1;
        Ok(r)
    }
    fn or_test(&mut self) -> Result<Expr, String> {
        let mut l = self.and_test()?;
        while self.is_kw("or") {
            self.pos += 1;
            l = Expr::Bin("or", Box::new(l), Box::new(self.and_test()?));
        }
        Ok(l)
    }
    fn and_test(&mut self) -> Result<Expr, String> {
        let mut l = self.not_test()?;
        while self.is_kw("and") {
            self.pos += 1;
            l = Expr::Bin("and", Box::new(l), Box::new(self.not_test()?));
        }
        Ok(l)
    }
    fn not_test(&mut self) -> Result<Expr, String> {
        if self.is_kw("not") {
            self.pos += 1;
            self.enter()?;
            let e = self.not_test()?;
            self.depth -= 1;
            return Ok(Expr::Unary("not", Box::new(e)));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<Expr, String> {
        let l = self.bitor()?;
        for op in ["<", ">", "<=", ">=", "==", "!="] {
            if self.is_op(op) {
                self.pos += 1;
                let r = self.bitor()?;
                return Ok(Expr::Bin(op_static(op), Box::new(l), Box::new(r)));
            }
        }
        Ok(l)
    }
    fn binary_level(
        &mut self,
        ops: &[&'static str],
        next: fn(&mut Parser) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut l = next(self)?;
        'outer: loop {
            for op in ops {
                if self.is_op(op) {
                    self.pos += 1;
                    let r = next(self)?;
                    l = Expr::Bin(op, Box::new(l), Box::new(r));
                    continue 'outer;
                }
            }
            return Ok(l);
        }
    }
    fn bitor(&mut self) -> Result<Expr, String> {
        self.binary_level(&["|"], Parser::bitxor)
    }
    fn bitxor(&mut self) -> Result<Expr, String> {
        self.binary_level(&["^"], Parser::bitand)
    }
    fn bitand(&mut self) -> Result<Expr, String> {
        self.binary_level(&["&"], Parser::shift)
    }
    fn shift(&mut self) -> Result<Expr, String> {
        self.binary_level(&["<<", ">>"], Parser::arith)
    }
    fn arith(&mut self) -> Result<Expr, String> {
        self.binary_level(&["+", "-"], Parser::term)
    }
    fn term(&mut self) -> Result<Expr, String> {
        self.binary_level(&["*", "//", "/", "%"], Parser::factor)
    }
    fn factor(&mut self) -> Result<Expr, String> {
        for op in ["-", "+", "~"] {
            if self.is_op(op) {
                self.pos += 1;
                self.enter()?;
                let e = self.factor()?;
                self.depth -= 1;
                return Ok(Expr::Unary(op_static(op), Box::new(e)));
            }
        }
        self.power()
    }
    fn power(&mut self) -> Result<Expr, String> {
        let base = self.atom()?;
        if self.is_op("**") {
            self.pos += 1;
            self.enter()?;
            let exp = self.factor()?;
            self.depth -= 1;
            return Ok(Expr::Bin("**", Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }
    fn atom(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(v)) => {
                self.pos += 1;
                Ok(Expr::Num(v))
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let e = self.test()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                let var = match n.as_str() {
                    "ban.Time" => Some(Expr::Var(Var::Time)),
                    "ban.Count" => Some(Expr::Var(Var::Count)),
                    "banFactor" => Some(Expr::Var(Var::Factor)),
                    "True" => Some(Expr::Num(Value::Int(1))),
                    "False" => Some(Expr::Num(Value::Int(0))),
                    _ => None,
                };
                if let Some(v) = var {
                    return Ok(v);
                }
                let func = match n.as_str() {
                    "min" => Func::Min,
                    "max" => Func::Max,
                    "abs" => Func::Abs,
                    "int" => Func::Int,
                    "float" => Func::Float,
                    "round" => Func::Round,
                    "math.exp" => Func::Exp,
                    "math.log" => Func::Log,
                    "math.sqrt" => Func::Sqrt,
                    "math.pow" => Func::Pow,
                    "math.floor" => Func::Floor,
                    "math.ceil" => Func::Ceil,
                    _ => return Err(format!("unknown name {n:?}")),
                };
                self.expect_op("(")?;
                let mut args = Vec::new();
                if !self.is_op(")") {
                    loop {
                        args.push(self.test()?);
                        if self.is_op(",") {
                            self.pos += 1;
                            continue;
                        }
                        break;
                    }
                }
                self.expect_op(")")?;
                let ok = match func {
                    Func::Min | Func::Max => !args.is_empty(),
                    Func::Pow => args.len() == 2,
                    Func::Log | Func::Round => (1..=2).contains(&args.len()),
                    _ => args.len() == 1,
                };
                if !ok {
                    return Err(format!("wrong number of arguments to {n}"));
                }
                Ok(Expr::Call(func, args))
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end".into()),
        }
    }
}

fn op_static(op: &str) -> &'static str {
    OPS.iter().find(|o| **o == op).copied().unwrap_or("?")
}

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

fn eval(e: &Expr, v: &Vars) -> Result<Value, FormulaError> {
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

impl Formula {
    /// Parses a formula (or a `bantime.factor` expression).
    pub fn parse(src: &str) -> Result<Formula, FormulaError> {
        let perr = |m: String| FormulaError::Parse(src.to_string(), m);
        let toks = tokenize(src).map_err(perr)?;
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
        };
        let expr = p.test().map_err(perr)?;
        if p.pos != p.toks.len() {
            return Err(perr(format!("unexpected {:?}", p.toks[p.pos])));
        }
        Ok(Formula {
            src: src.to_string(),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.src
    }

    pub fn eval(&self, vars: &Vars) -> Result<Value, FormulaError> {
        eval(&self.expr, vars)
    }

    /// Evaluates an expression with no variables (`bantime.factor`).
    pub fn eval_const(src: &str) -> Result<Value, FormulaError> {
        let f = Formula::parse(src)?;
        f.eval(&Vars {
            ban_time: Value::Int(0),
            ban_count: 0,
            ban_factor: Value::Int(1),
        })
    }
}

#[cfg(test)]
mod tests {
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
}
