//! Sigma strings: wildcards and pySigma's escaping, and the compiled matchers
//! that test an event's text against one.

use memchr::memmem;

/// A piece of a Sigma string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Lit(String),
    /// `*`: any run of characters, empty included.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
}

/// A Sigma string: literal text and wildcards, adjacent literals merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigmaString(pub Vec<Tok>);

impl SigmaString {
    /// Reads a rule's string: `*` and `?` are wildcards; `\*`, `\?` and `\\`
    /// are the plain characters; any other backslash is a plain backslash.
    pub fn parse(raw: &str) -> SigmaString {
        let mut s = SigmaString::default();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => s.push(Tok::AnyRun),
                '?' => s.push(Tok::AnyChar),
                '\\' => match chars.peek() {
                    Some(&next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        s.push_char(next);
                    }
                    _ => s.push_char('\\'),
                },
                c => s.push_char(c),
            }
        }
        s
    }

    /// Text with no wildcards (what an encoding modifier produces).
    pub fn literal(text: impl Into<String>) -> SigmaString {
        let text = text.into();
        match text.is_empty() {
            true => SigmaString::default(),
            false => SigmaString(vec![Tok::Lit(text)]),
        }
    }

    pub fn push(&mut self, tok: Tok) {
        match (self.0.last_mut(), tok) {
            (Some(Tok::Lit(a)), Tok::Lit(b)) => a.push_str(&b),
            // `**` is `*`.
            (Some(Tok::AnyRun), Tok::AnyRun) => {}
            (_, Tok::Lit(b)) if b.is_empty() => {}
            (_, tok) => self.0.push(tok),
        }
    }

    fn push_char(&mut self, c: char) {
        match self.0.last_mut() {
            Some(Tok::Lit(a)) => a.push(c),
            _ => self.0.push(Tok::Lit(c.to_string())),
        }
    }

    /// The text when the string has no wildcard.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for tok in &self.0 {
            match tok {
                Tok::Lit(s) => out.push_str(s),
                _ => return None,
            }
        }
        Some(out)
    }

    /// `*` around, before or after the string (contains, endswith, startswith).
    pub fn wrap(mut self, before: bool, after: bool) -> SigmaString {
        if before && self.0.first() != Some(&Tok::AnyRun) {
            self.0.insert(0, Tok::AnyRun);
        }
        if after {
            self.push(Tok::AnyRun);
        }
        self
    }

    /// Every literal piece rewritten by `f` (case folding, dash folding).
    pub fn map_literals(&self, f: impl Fn(&str) -> String) -> SigmaString {
        let mut out = SigmaString::default();
        for tok in &self.0 {
            out.push(match tok {
                Tok::Lit(s) => Tok::Lit(f(s)),
                other => other.clone(),
            });
        }
        out
    }
}

/// A compiled string test, on text folded as the pattern was.
#[derive(Debug, Clone)]
pub enum StrMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(Box<memmem::Finder<'static>>),
    Any,
    Glob(Vec<GlobTok>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobTok {
    Byte(u8),
    One,
    Run,
}

impl StrMatch {
    pub fn compile(s: &SigmaString) -> StrMatch {
        use Tok::*;
        match s.0.as_slice() {
            [] => StrMatch::Exact(String::new()),
            [Lit(a)] => StrMatch::Exact(a.clone()),
            [AnyRun] => StrMatch::Any,
            [Lit(a), AnyRun] => StrMatch::Prefix(a.clone()),
            [AnyRun, Lit(a)] => StrMatch::Suffix(a.clone()),
            [AnyRun, Lit(a), AnyRun] => {
                StrMatch::Contains(Box::new(memmem::Finder::new(a.as_bytes()).into_owned()))
            }
            toks => {
                let mut glob = Vec::new();
                for t in toks {
                    match t {
                        Lit(a) => glob.extend(a.bytes().map(GlobTok::Byte)),
                        AnyChar => glob.push(GlobTok::One),
                        AnyRun => glob.push(GlobTok::Run),
                    }
                }
                StrMatch::Glob(glob)
            }
        }
    }

    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            StrMatch::Exact(a) => text == a,
            StrMatch::Prefix(a) => text.starts_with(a.as_str()),
            StrMatch::Suffix(a) => text.ends_with(a.as_str()),
            StrMatch::Contains(f) => f.find(text.as_bytes()).is_some(),
            StrMatch::Any => true,
            StrMatch::Glob(g) => glob_match(g, text.as_bytes()),
        }
    }
}

/// The length of the UTF-8 character that starts with `lead`.
#[inline]
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Wildcard matching with backtracking: on a mismatch, the last `*` takes one
/// more character and matching resumes after it. Only the last `*` ever needs
/// to move, so this is complete, and it runs in O(pattern × text) at worst.
fn glob_match(pat: &[GlobTok], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if let Some(tok) = pat.get(p) {
            match *tok {
                GlobTok::Run => {
                    resume = Some((p, t));
                    p += 1;
                    continue;
                }
                GlobTok::One => {
                    t += char_len(text[t]);
                    p += 1;
                    continue;
                }
                GlobTok::Byte(b) if b == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                GlobTok::Byte(_) => {}
            }
        }
        match resume {
            Some((star, from)) => {
                let next = from + char_len(text[from]);
                resume = Some((star, next));
                p = star + 1;
                t = next;
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|tok| *tok == GlobTok::Run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        StrMatch::compile(&SigmaString::parse(pattern)).is_match(text)
    }

    #[test]
    fn escaping_follows_pysigma() {
        assert_eq!(
            SigmaString::parse(r"a\*b").as_literal().as_deref(),
            Some("a*b")
        );
        assert_eq!(
            SigmaString::parse(r"a\?b").as_literal().as_deref(),
            Some("a?b")
        );
        assert_eq!(
            SigmaString::parse(r"a\\b").as_literal().as_deref(),
            Some(r"a\b")
        );
        assert_eq!(
            SigmaString::parse(r"C:\Windows").as_literal().as_deref(),
            Some(r"C:\Windows")
        );
        // `\\*`: a backslash, then a wildcard.
        assert_eq!(
            SigmaString::parse(r"a\\*").0,
            vec![Tok::Lit(r"a\".into()), Tok::AnyRun]
        );
        // `\\\*`: a backslash and a star, both plain.
        assert_eq!(
            SigmaString::parse(r"\\\*").as_literal().as_deref(),
            Some(r"\*")
        );
        assert_eq!(
            SigmaString::parse(r"\\\\").as_literal().as_deref(),
            Some(r"\\")
        );
    }

    #[test]
    fn wildcards_backtrack() {
        assert!(m("*a*b", "aab"));
        assert!(m("*ab*ab", "xabyabzab"));
        assert!(!m("*ab*ab", "xabyabza"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "aéc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("a*", "a"));
        assert!(!m("", "a"));
        assert!(m("?*?", "ab"));
        assert!(!m("?*?", "a"));
        assert!(m("*é?", "xéé"));
    }
}
