//! Sigma conditions: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`
//! and `them`, parsed into a tree over the rule's search identifiers.

use crate::error::RuleError;

/// A condition, with `x of pattern` already expanded to the identifiers it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// A search identifier, by its index in the rule's list.
    Id(usize),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    pub fn eval(&self, id: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Id(i) => id(*i),
            Cond::And(all) => all.iter().all(|c| c.eval(id)),
            Cond::Or(any) => any.iter().any(|c| c.eval(id)),
            Cond::Not(c) => !c.eval(id),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Token::Open } else { Token::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Parses `text` over the identifiers `names` (precedence, loosest first:
/// or, and, not, `x of`, parentheses).
pub fn parse(text: &str, names: &[String]) -> Result<Cond, RuleError> {
    let mut p = Parser {
        toks: tokens(text),
        pos: 0,
        names,
        depth: 0,
    };
    let cond = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(cond),
        Some(t) => Err(RuleError::Condition(format!(
            "unexpected {t:?} in {text:?}"
        ))),
    }
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    names: &'a [String],
    /// Nesting so far (parentheses and `not`): bounded, so that no condition
    /// can exhaust the stack.
    depth: usize,
}

/// Nesting deeper than any real rule's, and far from the stack's limit.
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Cond, RuleError> {
        let mut parts = vec![self.and()?];
        while self.peek_word("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, RuleError> {
        let mut parts = vec![self.not()?];
        while self.peek_word("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(RuleError::Condition(format!(
                "nested more than {MAX_DEPTH} deep"
            )));
        }
        let cond = match self.peek_word("not") {
            true => {
                self.pos += 1;
                self.not().map(|c| Cond::Not(Box::new(c)))
            }
            false => self.atom(),
        };
        self.depth -= 1;
        cond
    }

    fn atom(&mut self) -> Result<Cond, RuleError> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.toks.get(self.pos) {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(RuleError::Condition("unbalanced parentheses".into())),
                }
            }
            Some(Token::Word(w))
                if (w == "1" || w.eq_ignore_ascii_case("all") || w.eq_ignore_ascii_case("any"))
                    && self.peek_word("of") =>
            {
                self.pos += 1;
                let target = match self.toks.get(self.pos) {
                    Some(Token::Word(t)) => t.clone(),
                    _ => return Err(RuleError::Condition(format!("`{w} of` names nothing"))),
                };
                self.pos += 1;
                let ids = self.select(&target)?;
                let parts: Vec<Cond> = ids.into_iter().map(Cond::Id).collect();
                Ok(match w == "1" || w.eq_ignore_ascii_case("any") {
                    true => Cond::Or(parts),
                    false => Cond::And(parts),
                })
            }
            Some(Token::Word(w)) => match self.names.iter().position(|n| *n == w) {
                Some(i) => Ok(Cond::Id(i)),
                None => Err(RuleError::Condition(format!(
                    "unknown search identifier {w:?}"
                ))),
            },
            Some(Token::Close) => Err(RuleError::Condition("unbalanced parentheses".into())),
            None => Err(RuleError::Condition("condition ends early".into())),
        }
    }

    /// The identifiers `them` (all but `_`-names) or a `*` pattern names.
    fn select(&self, target: &str) -> Result<Vec<usize>, RuleError> {
        let ids: Vec<usize> = match target {
            "them" => (0..self.names.len())
                .filter(|&i| !self.names[i].starts_with('_'))
                .collect(),
            pattern => {
                let glob = crate::pattern::StrMatch::compile(&name_pattern(pattern));
                (0..self.names.len())
                    .filter(|&i| glob.is_match(&self.names[i]))
                    .collect()
            }
        };
        match ids.is_empty() {
            true => Err(RuleError::Condition(format!(
                "{target:?} names no search identifier"
            ))),
            false => Ok(ids),
        }
    }
}

/// An identifier pattern: `*` is the only wildcard; every other character is plain.
fn name_pattern(pattern: &str) -> crate::pattern::SigmaString {
    use crate::pattern::{SigmaString, Tok};
    let mut s = SigmaString::default();
    for (i, part) in pattern.split('*').enumerate() {
        if i > 0 {
            s.push(Tok::AnyRun);
        }
        s.push(Tok::Lit(part.to_string()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_and_patterns() {
        let n = names(&["selection_a", "selection_b", "filter", "_hidden"]);
        assert_eq!(
            parse("selection_a or selection_b and not filter", &n).unwrap(),
            Cond::Or(vec![
                Cond::Id(0),
                Cond::And(vec![Cond::Id(1), Cond::Not(Box::new(Cond::Id(2)))])
            ])
        );
        assert_eq!(
            parse("all of selection_* and not 1 of filter*", &n).unwrap(),
            Cond::And(vec![
                Cond::And(vec![Cond::Id(0), Cond::Id(1)]),
                Cond::Not(Box::new(Cond::Or(vec![Cond::Id(2)])))
            ])
        );
        assert_eq!(
            parse("1 of them", &n).unwrap(),
            Cond::Or(vec![Cond::Id(0), Cond::Id(1), Cond::Id(2)])
        );
        assert_eq!(parse("(filter)", &n).unwrap(), Cond::Id(2));
        assert!(parse("1 of nothing*", &n).is_err());
        assert!(parse("selection_a and", &n).is_err());
        assert!(parse("(selection_a", &n).is_err());
        assert!(parse("missing", &n).is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let n = names(&["a"]);
        assert!(parse(&format!("{}a{}", "(".repeat(60), ")".repeat(60)), &n).is_ok());
        assert!(parse(
            &format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000)),
            &n
        )
        .is_err());
        assert!(parse(&format!("{}a", "not ".repeat(100_000)), &n).is_err());
    }
}
