//! Text to tree: Python's tokens and precedence for the subset formulas use
//! (`x if c else y` < `or` < `and` < `not` < comparisons < `|` < `^` < `&`
//! < shifts < `+ -` < `* / // %` < unary < `**` < calls and atoms), with a
//! depth limit so a hostile formula cannot exhaust the stack.
use super::{Expr, Func, Value, Var};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Value),
    Name(String),
    Op(&'static str),
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

/// Parses a whole formula; the error is a message for [`super::FormulaError::Parse`].
pub(super) fn parse(src: &str) -> Result<Expr, String> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let expr = p.test()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(expr)
}
