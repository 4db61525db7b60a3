//! Owns `bantime.formula` and `bantime.factor`: a small, safe evaluator for
//! the Python expression subset the stock formulas use (`ban.Time`,
//! `ban.Count`, `banFactor`, arithmetic, `<<`/`>>`, comparisons, `and`/`or`/
//! `not`, `x if c else y`, `min`/`max`/`abs`/`int`/`float`/`round`, and
//! `math.exp`/`log`/`sqrt`/`pow`/`floor`/`ceil`). It parses to a tree once and
//! evaluates it; nothing is ever handed to an interpreter.
//!
//! [`parse`] turns text into the tree, [`eval`] evaluates it with Python's
//! int/float rules.
use std::fmt;

mod eval;
mod parse;
#[cfg(test)]
mod tests;

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

impl Formula {
    /// Parses a formula (or a `bantime.factor` expression).
    pub fn parse(src: &str) -> Result<Formula, FormulaError> {
        let expr = parse::parse(src).map_err(|m| FormulaError::Parse(src.to_string(), m))?;
        Ok(Formula {
            src: src.to_string(),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.src
    }

    pub fn eval(&self, vars: &Vars) -> Result<Value, FormulaError> {
        eval::eval(&self.expr, vars)
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
