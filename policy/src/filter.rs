//! Mailgun's filter expressions for the events API (`event=rejected OR
//! failed`, `tags=NOT (a OR b)`): words side by side or joined by `AND`
//! must all match, `OR` either, `NOT` negates, `"a phrase"` is one value,
//! parentheses group. Parsing only: what a value matches is the caller's.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Value(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the expression is empty")]
    Empty,
    #[error("a quote is not closed")]
    OpenQuote,
    #[error("a parenthesis is not closed")]
    OpenParen,
    #[error("unexpected {0:?}")]
    Unexpected(String),
    #[error("{0} needs a value after it")]
    Dangling(&'static str),
    #[error("the expression nests too deep")]
    TooDeep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err(FilterError::OpenQuote),
                    }
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

/// Deeper than this is refused (no stack to exhaust on any input).
const MAX_DEPTH: usize = 32;

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == k)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        let mut items = vec![self.and(depth)?];
        while self.keyword("OR") {
            self.at += 1;
            if self.peek().is_none() {
                return Err(FilterError::Dangling("OR"));
            }
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            if self.keyword("AND") {
                self.at += 1;
                if self.peek().is_none() {
                    return Err(FilterError::Dangling("AND"));
                }
            } else if self.peek().is_none()
                || self.keyword("OR")
                || self.peek() == Some(&Token::Close)
            {
                break;
            }
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        match self.peek().cloned() {
            None => Err(FilterError::Empty),
            Some(Token::Word(w)) if w == "NOT" => {
                self.at += 1;
                if self.peek().is_none() {
                    return Err(FilterError::Dangling("NOT"));
                }
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Token::Word(w)) if w == "AND" || w == "OR" => Err(FilterError::Unexpected(w)),
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => {
                self.at += 1;
                Ok(Expr::Value(w))
            }
            Some(Token::Open) => {
                self.at += 1;
                let e = self.or(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return Err(FilterError::OpenParen);
                }
                self.at += 1;
                Ok(e)
            }
            Some(Token::Close) => Err(FilterError::Unexpected(")".into())),
        }
    }
}

/// Parses one field's expression.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    let tokens = tokens(text)?;
    if tokens.is_empty() {
        return Err(FilterError::Empty);
    }
    let mut p = Parser { tokens, at: 0 };
    let e = p.or(0)?;
    match p.peek() {
        None => Ok(e),
        Some(Token::Close) => Err(FilterError::Unexpected(")".into())),
        Some(t) => Err(FilterError::Unexpected(format!("{t:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Expr {
        Expr::Value(s.into())
    }

    #[test]
    fn a_single_value_is_itself() {
        assert_eq!(parse("delivered"), Ok(v("delivered")));
    }

    #[test]
    fn or_joins_alternatives() {
        assert_eq!(
            parse("rejected OR failed"),
            Ok(Expr::Or(vec![v("rejected"), v("failed")]))
        );
    }

    #[test]
    fn words_side_by_side_must_all_match_and_bind_tighter_than_or() {
        assert_eq!(
            parse("a b OR c AND d"),
            Ok(Expr::Or(vec![
                Expr::And(vec![v("a"), v("b")]),
                Expr::And(vec![v("c"), v("d")])
            ]))
        );
    }

    #[test]
    fn not_quotes_and_parentheses() {
        assert_eq!(
            parse("NOT (\"foo bar\" OR baz)"),
            Ok(Expr::Not(Box::new(Expr::Or(vec![v("foo bar"), v("baz")]))))
        );
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        assert_eq!(parse(""), Err(FilterError::Empty));
        assert_eq!(parse("a OR"), Err(FilterError::Dangling("OR")));
        assert_eq!(parse("(a OR b"), Err(FilterError::OpenParen));
        assert_eq!(parse("a)"), Err(FilterError::Unexpected(")".into())));
        assert_eq!(parse("\"a"), Err(FilterError::OpenQuote));
        assert_eq!(parse("OR a"), Err(FilterError::Unexpected("OR".into())));
        assert_eq!(parse(&"(".repeat(100)), Err(FilterError::TooDeep));
        assert_eq!(parse(&"NOT ".repeat(10_000)), Err(FilterError::TooDeep));
    }
}
