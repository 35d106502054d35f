//! A small expression engine: report formulas are compiled to bytecode
//! once per engine and cached by source text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One bytecode instruction of a stack machine.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Const(f64),
    Column(usize),
    Add,
    Sub,
    Mul,
    Div,
}

/// A compiled formula.
#[allow(dead_code, reason = "kept for error messages")]
pub struct Program {
    pub source: String,
    ops: Vec<Op>,
}

impl Program {
    /// Evaluates the formula over one row of the report.
    pub fn run(&self, row: &[f64]) -> f64 {
        let mut stack: Vec<f64> = Vec::with_capacity(16);
        for op in &self.ops {
            let value = match *op {
                Op::Const(c) => c,
                Op::Column(i) => row.get(i).copied().unwrap_or(0.0),
                op => {
                    let b = stack.pop().unwrap_or(0.0);
                    let a = stack.pop().unwrap_or(0.0);
                    match op {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        _ if b == 0.0 => 0.0,
                        _ => a / b,
                    }
                }
            };
            stack.push(value);
        }
        stack.pop().unwrap_or(0.0)
    }
}

/// Compiles a formula in reverse Polish notation (`c3 1.5 * c0 +`).
fn compile(source: &str) -> Program {
    let ops = source
        .split_whitespace()
        .map(|token| match token {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            column if column.starts_with('c') => Op::Column(column[1..].parse().unwrap_or(0)),
            number => Op::Const(number.parse().unwrap_or(0.0)),
        })
        .collect();
    Program {
        source: source.to_owned(),
        ops,
    }
}

/// Compiles formulas on first use and keeps them.
#[derive(Default)]
pub struct CodeLoader {
    programs: Mutex<HashMap<String, Arc<Program>>>,
}

impl CodeLoader {
    pub fn load(&self, source: &str) -> Arc<Program> {
        let mut programs = self.programs.lock().unwrap();
        if let Some(program) = programs.get(source) {
            return Arc::clone(program);
        }
        let program = Arc::new(compile(source));
        programs.insert(source.to_owned(), Arc::clone(&program));
        program
    }
}

/// An engine instance: its own code loader and cache.
pub struct Engine {
    pub id: u64,
    loader: CodeLoader,
}

impl Engine {
    pub fn new(id: u64) -> Engine {
        Engine {
            id,
            loader: CodeLoader::default(),
        }
    }

    /// Evaluates `formula` over `row`, compiling it on first use.
    pub fn eval(&self, formula: &str, row: &[f64]) -> f64 {
        self.loader.load(formula).run(row)
    }
}
