//! Quoting a command for copy-paste into a POSIX shell.

/// The argv joined into one line a POSIX shell (sh, bash, zsh) reads back as the same words:
/// words made only of `A-Za-z0-9` and `_@%+=:,./-` are left bare, any other word is put in
/// single quotes (a `'` inside becomes `'\''`), and an empty word is `''`.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

fn quote(word: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(bare) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let argv: Vec<String> = [
            "exphil",
            "train",
            "--replays",
            "/My Replays/it's",
            "",
            "a=b,c",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            shell_line(&argv),
            r"exphil train --replays '/My Replays/it'\''s' '' a=b,c"
        );
        assert_eq!(shell_line(&["$HOME".to_string()]), "'$HOME'");
    }
}
