//! Formulas in report text: `$...$` spans written in a plain ASCII notation (`u_4 ~ 1/N`,
//! `sigma_W^(d-4)`, `G_c^(6)`) become presentation MathML in the HTML (rendered by current browsers with no
//! script or font) and stay as they are, without the dollars, in report.md and checks.json.
//!
//! Notation: `_x` and `^x` take one atom (a name, a number, or a group in parentheses or braces; `^-x` a signed
//! one); parentheses around a script are dropped unless they hold a single number (`G^(4)` keeps them);
//! `a/b` is a fraction of the factors next to it; `~` is "scales as"; Greek letters by name (`sigma`, `Delta`);
//! `ubar` is u with a bar; `sqrt(x)` a root.

use crate::plots::esc;

/// The text with `$` delimiters removed (for Markdown and JSON).
pub fn plain(s: &str) -> String {
    s.replace('$', "")
}

/// HTML-escaped text with every `$...$` span as inline MathML.
pub fn html(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('$').enumerate() {
        if i % 2 == 1 {
            out += &mathml(part);
        } else {
            out += &esc(part);
        }
    }
    out
}

/// One formula as a `<math>` element.
pub fn mathml(src: &str) -> String {
    let toks = lex(src);
    let mut p = Parser { t: &toks, i: 0 };
    let body = p.expr(&[]);
    format!("<math>{body}</math>")
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(String),
    Op(String),
}

const GREEK: &[(&str, &str)] = &[
    ("alpha", "α"),
    ("beta", "β"),
    ("gamma", "γ"),
    ("Delta", "Δ"),
    ("delta", "δ"),
    ("kappa", "κ"),
    ("Lambda", "Λ"),
    ("lambda", "λ"),
    ("mu", "μ"),
    ("pi", "π"),
    ("phi", "φ"),
    ("rho", "ρ"),
    ("sigma", "σ"),
    ("Sigma", "Σ"),
];

fn lex(s: &str) -> Vec<Tok> {
    let cs: Vec<char> = s.chars().collect();
    let mut v = vec![];
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() {
            let st = i;
            while i < cs.len() && cs[i].is_ascii_alphabetic() {
                i += 1;
            }
            v.push(Tok::Name(cs[st..i].iter().collect()));
        } else if c.is_ascii_digit() || (c == '.' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let st = i;
            while i < cs.len()
                && (cs[i].is_ascii_digit()
                    || cs[i] == '.'
                    || (cs[i] == 'e' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '-')))
            {
                if cs[i] == 'e' && cs[i + 1] == '-' {
                    i += 1;
                }
                i += 1;
            }
            v.push(Tok::Num(cs[st..i].iter().collect()));
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            if ["<=", ">="].contains(&two.as_str()) {
                v.push(Tok::Op(two));
                i += 2;
            } else {
                v.push(Tok::Op(c.to_string()));
                i += 1;
            }
        }
    }
    v
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
}

fn mo(s: &str) -> String {
    let m = match s {
        "~" => "∼",
        "-" => "−",
        "<=" => "≤",
        ">=" => "≥",
        "*" => "·",
        other => other,
    };
    format!("<mo>{}</mo>", esc(m))
}

fn name(n: &str) -> String {
    if let Some((_, g)) = GREEK.iter().find(|(g, _)| *g == n) {
        return format!("<mi>{g}</mi>");
    }
    if let Some(base) = n.strip_suffix("bar").filter(|b| b.chars().count() == 1) {
        return format!("<mover><mi>{base}</mi><mo>‾</mo></mover>");
    }
    // A Greek name glued to a letter (DeltaG) is one symbol: Δ G.
    if let Some((g, u)) = GREEK
        .iter()
        .find(|(g, _)| n.len() == g.len() + 1 && n.starts_with(g))
    {
        return format!("<mrow><mi>{u}</mi><mi>{}</mi></mrow>", &n[g.len()..]);
    }
    if n.chars().count() == 1 {
        format!("<mi>{n}</mi>")
    } else {
        format!("<mi mathvariant=\"normal\">{n}</mi>")
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn is_op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(x)) if x == o)
    }
    /// A sequence up to one of the closing operators.
    fn expr(&mut self, close: &[&str]) -> String {
        let mut out = String::new();
        while let Some(t) = self.peek() {
            if let Tok::Op(o) = t {
                if close.contains(&o.as_str()) {
                    break;
                }
                if !["(", "{", "|", "<", "⟨"].contains(&o.as_str()) || (o == "<" && !self.is_mean()) {
                    let o = o.clone();
                    self.i += 1;
                    out += &mo(&o);
                    continue;
                }
            }
            let f = self.factor();
            if self.is_op("/") {
                self.i += 1;
                let d = self.factor();
                out += &format!("<mfrac><mrow>{f}</mrow><mrow>{d}</mrow></mfrac>");
            } else {
                out += &f;
            }
        }
        format!("<mrow>{out}</mrow>")
    }
    /// `<` opens a mean when a matching `>` follows before the end.
    fn is_mean(&self) -> bool {
        self.t[self.i + 1..]
            .iter()
            .any(|t| matches!(t, Tok::Op(o) if o == ">"))
    }
    fn atom(&mut self) -> (String, bool) {
        let Some(t) = self.peek().cloned() else {
            return (String::new(), false);
        };
        self.i += 1;
        match t {
            Tok::Name(n) if n == "sqrt" && self.is_op("(") => {
                self.i += 1;
                let inner = self.expr(&[")"]);
                if self.is_op(")") {
                    self.i += 1;
                }
                (format!("<msqrt>{inner}</msqrt>"), false)
            }
            Tok::Name(n) => (name(&n), false),
            Tok::Num(n) => (format!("<mn>{n}</mn>"), true),
            Tok::Op(o) => {
                let (open, close, shown) = match o.as_str() {
                    "(" => ("(", ")", true),
                    "{" => ("{", "}", false),
                    "|" => ("|", "|", true),
                    "<" | "⟨" => ("⟨", if o == "<" { ">" } else { "⟩" }, true),
                    _ => return (mo(&o), false),
                };
                let start = self.i;
                let inner = self.expr(&[close]);
                let single_num = self.i == start + 1 && matches!(self.t[start], Tok::Num(_));
                if self.is_op(close) {
                    self.i += 1;
                }
                let (l, r) = if open == "⟨" {
                    ("⟨", "⟩")
                } else {
                    (open, close)
                };
                if shown {
                    (
                        format!("<mrow>{}{inner}{}</mrow>", mo(l), mo(r)),
                        open == "(" && single_num,
                    )
                } else {
                    (inner, false)
                }
            }
        }
    }
    /// A script: an atom, a signed atom, or a parenthesised group (parentheses dropped unless one number).
    fn script(&mut self) -> String {
        if self.is_op("-") || self.is_op("+") {
            let Some(Tok::Op(s)) = self.peek().cloned() else {
                unreachable!()
            };
            self.i += 1;
            let (a, _) = self.atom();
            return format!("<mrow>{}{a}</mrow>", mo(&s));
        }
        let paren = self.is_op("(");
        let (a, single_num) = self.atom();
        if paren && !single_num {
            // Strip the outer <mo>(</mo> ... <mo>)</mo>.
            let inner = a
                .strip_prefix("<mrow><mo>(</mo>")
                .and_then(|s| s.strip_suffix("<mo>)</mo></mrow>"))
                .unwrap_or(&a);
            return inner.to_string();
        }
        a
    }
    fn factor(&mut self) -> String {
        let (base, _) = self.atom();
        let (mut sub, mut sup) = (None, None);
        loop {
            if self.is_op("_") && sub.is_none() {
                self.i += 1;
                sub = Some(self.script());
            } else if self.is_op("^") && sup.is_none() {
                self.i += 1;
                sup = Some(self.script());
            } else {
                break;
            }
        }
        match (sub, sup) {
            (None, None) => base,
            (Some(b), None) => format!("<msub>{base}{b}</msub>"),
            (None, Some(p)) => format!("<msup>{base}{p}</msup>"),
            (Some(b), Some(p)) => format!("<msubsup>{base}{b}{p}</msubsup>"),
        }
    }
}
