//! Finds every path a Rust source file takes through its own crate (`crate::…`, `$crate::…`,
//! `super::…`), `use` groups expanded, resolved to a path from the crate root. Comments and
//! string literals are skipped, so prose that names a module is not an import.

/// The paths `source` names, from the crate root, for a file whose module is `module`
/// (`["domain", "access"]` for `src/domain/access.rs`). Inline `mod name { … }` blocks are
/// followed, so `super::` in a test module resolves to the file's own module.
pub fn crate_paths(module: &[String], source: &str) -> Vec<Vec<String>> {
    let tokens = tokens(source);
    let mut paths = Vec::new();
    let mut inline_mods: Vec<(String, usize)> = Vec::new();
    let mut pending_mod = None;
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        let starts_path = i == 0 || tokens[i - 1] != "::";
        match token {
            "mod"
                if tokens.get(i + 1).is_some_and(|t| is_ident(t))
                    && tokens.get(i + 2).is_some_and(|t| t == "{") =>
            {
                pending_mod = Some(tokens[i + 1].clone());
            }
            "{" => {
                depth += 1;
                if let Some(name) = pending_mod.take() {
                    inline_mods.push((name, depth));
                }
            }
            "}" => {
                if inline_mods.last().is_some_and(|(_, at)| *at == depth) {
                    inline_mods.pop();
                }
                depth = depth.saturating_sub(1);
            }
            "crate" if starts_path && tokens.get(i + 1).is_some_and(|t| t == "::") => {
                let mut at = i + 2;
                paths.extend(use_tree(&tokens, &mut at));
            }
            "super" if starts_path && tokens.get(i + 1).is_some_and(|t| t == "::") => {
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline_mods.iter().map(|(name, _)| name.clone()));
                let mut at = i;
                while tokens.get(at).is_some_and(|t| t == "super")
                    && tokens.get(at + 1).is_some_and(|t| t == "::")
                {
                    assert!(here.pop().is_some(), "super:: above the crate root in {module:?}");
                    at += 2;
                }
                for tail in use_tree(&tokens, &mut at) {
                    paths.push(here.iter().cloned().chain(tail).collect());
                }
                i = at;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    paths
}

/// Reads `a::b::{c, d::{e, self}}` from `at` into `[a,b,c]`, `[a,b,d,e]`, `[a,b,d]`.
fn use_tree(tokens: &[String], at: &mut usize) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    loop {
        match tokens.get(*at).map(String::as_str) {
            Some("{") => {
                *at += 1;
                let mut paths = Vec::new();
                while let Some(token) = tokens.get(*at) {
                    match token.as_str() {
                        "}" => {
                            *at += 1;
                            break;
                        }
                        "," => *at += 1,
                        _ => {
                            let before = *at;
                            for tail in use_tree(tokens, at) {
                                paths.push(prefix.iter().cloned().chain(tail).collect());
                            }
                            if *at == before {
                                *at += 1;
                            }
                        }
                    }
                }
                return paths;
            }
            Some("self") => *at += 1,
            Some(token) if is_ident(token) => {
                prefix.push(token.to_owned());
                *at += 1;
            }
            _ => return vec![prefix],
        }
        if tokens.get(*at).is_some_and(|t| t == "::") {
            *at += 1;
        } else {
            return vec![prefix];
        }
    }
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters; comments, strings, characters and
/// lifetimes dropped.
fn tokens(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = block_comment_end(&chars, i);
        } else if let Some(end) = raw_string_end(&chars, i) {
            i = end;
        } else if c == '"' || (c == 'b' && next == Some('"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && next == Some('\'')) {
            i = char_or_lifetime_end(&chars, if c == 'b' { i + 1 } else { i });
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

fn block_comment_end(chars: &[char], mut i: usize) -> usize {
    let mut open = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            open += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            open -= 1;
            i += 2;
            if open == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// `r"…"`, `r#"…"#`, `br##"…"##`: where it ends, when one starts at `i`.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let before_ident = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let mut at = i + usize::from(chars[i] == 'b');
    if !before_ident || chars.get(at) != Some(&'r') {
        return None;
    }
    at += 1;
    let hashes = chars[at..].iter().take_while(|c| **c == '#').count();
    if chars.get(at + hashes) != Some(&'"') {
        return None;
    }
    at += hashes + 1;
    while at < chars.len() {
        if chars[at] == '"' && chars[at + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes {
            return Some(at + 1 + hashes);
        }
        at += 1;
    }
    Some(at)
}

/// A character literal (`'a'`, `'\n'`, `'\u{1F600}'`) or a lifetime or label (`'a`), from its
/// opening quote at `i`.
fn char_or_lifetime_end(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut at = i + 2;
        while at < chars.len() && chars[at] != '\'' {
            at += 1;
        }
        return at + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    let mut at = i + 1;
    while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
        at += 1;
    }
    at
}
