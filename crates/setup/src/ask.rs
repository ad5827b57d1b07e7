//! Asking the questions: the [`Ask`] trait, answered line by line ([`Lines`]) or with arrow-key
//! menus on a terminal ([`Terminal`]).

use crate::{Result, SetupError, TRIES};
use std::io::{BufRead, Write};

/// Where the wizard's questions are answered. Every question has a default.
pub trait Ask {
    /// One of `options` (their index); `default` is the index taken on Enter.
    fn choose(&mut self, prompt: &str, options: &[String], default: usize) -> Result<usize>;
    /// A line of text; `default` is taken on Enter.
    fn text(&mut self, prompt: &str, default: &str) -> Result<String>;
    /// Yes or no; `default` is taken on Enter.
    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool>;
    /// Shows a line of information (what was found, the command); nothing by default.
    fn note(&mut self, _line: &str) -> Result<()> {
        Ok(())
    }
}

/// Questions written to `W`, answers read a line at a time from `R`: options are numbered, and
/// an answer is a number, a name, or an unambiguous start of one (any case); Enter takes the
/// default, end of input takes the default of this and every later question, and a bad answer
/// is asked again with the reason.
pub struct Lines<R: BufRead, W: Write> {
    input: R,
    output: W,
}

impl<R: BufRead, W: Write> Lines<R, W> {
    /// Questions on `output`, answers from `input`.
    pub fn new(input: R, output: W) -> Lines<R, W> {
        Lines { input, output }
    }

    /// The output back (what was written, for a test).
    pub fn into_output(self) -> W {
        self.output
    }

    /// The next answer, trimmed; `None` at end of input.
    fn read(&mut self) -> Result<Option<String>> {
        self.output.flush()?;
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            writeln!(self.output)?;
            return Ok(None);
        }
        Ok(Some(line.trim().to_string()))
    }

    /// Asks until `parse` accepts an answer (at most [`TRIES`] times).
    fn ask_until<T>(
        &mut self,
        prompt: &str,
        default: T,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Result<T> {
        for _ in 0..TRIES {
            write!(self.output, "> ")?;
            let Some(answer) = self.read()? else {
                return Ok(default);
            };
            if answer.is_empty() {
                return Ok(default);
            }
            match parse(&answer) {
                Ok(v) => return Ok(v),
                Err(why) => writeln!(self.output, "  {why}")?,
            }
        }
        Err(SetupError::TooManyTries(prompt.to_string()))
    }
}

/// The option `answer` names: its number (1-based), its text, or the unique option starting
/// with it (case-insensitive).
pub(crate) fn pick(options: &[String], answer: &str) -> Result<usize, String> {
    if let Ok(n) = answer.parse::<usize>() {
        return if (1..=options.len()).contains(&n) {
            Ok(n - 1)
        } else {
            Err(format!("{n} is not 1-{}", options.len()))
        };
    }
    let want = answer.to_lowercase();
    if let Some(i) = options.iter().position(|o| o.to_lowercase() == want) {
        return Ok(i);
    }
    let hits: Vec<usize> = (0..options.len())
        .filter(|&i| options[i].to_lowercase().starts_with(&want))
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(format!(
            "`{answer}` is not an option: type its number (1-{}) or its name",
            options.len()
        )),
        many => Err(format!(
            "`{answer}` could be {}: type more of it, or the number",
            many.iter()
                .map(|&i| options[i].as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

impl<R: BufRead, W: Write> Ask for Lines<R, W> {
    fn choose(&mut self, prompt: &str, options: &[String], default: usize) -> Result<usize> {
        writeln!(self.output, "{prompt}")?;
        for (i, o) in options.iter().enumerate() {
            let mark = if i == default { "  (default)" } else { "" };
            writeln!(self.output, "  {}. {o}{mark}", i + 1)?;
        }
        self.ask_until(prompt, default, |a| pick(options, a))
    }

    fn text(&mut self, prompt: &str, default: &str) -> Result<String> {
        writeln!(self.output, "{prompt} [{default}]")?;
        self.ask_until(prompt, default.to_string(), |a| Ok(a.to_string()))
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool> {
        let hint = if default { "Y/n" } else { "y/N" };
        writeln!(self.output, "{prompt} [{hint}]")?;
        self.ask_until(prompt, default, |a| match a.to_lowercase().as_str() {
            "y" | "yes" => Ok(true),
            "n" | "no" => Ok(false),
            _ => Err(format!("`{a}`: answer y or n")),
        })
    }

    fn note(&mut self, line: &str) -> Result<()> {
        writeln!(self.output, "{line}")?;
        Ok(())
    }
}

/// Arrow-key menus, text fields and yes/no prompts drawn by `dialoguer` on standard error, for
/// when standard input and output are terminals ([`Terminal::available`]). Notes go to
/// standard error too, so standard output stays free.
#[derive(Debug, Default)]
pub struct Terminal {
    _private: (),
}

impl Terminal {
    /// The terminal prompts.
    pub fn new() -> Terminal {
        Terminal::default()
    }

    /// Whether standard input and standard output are both terminals.
    pub fn available() -> bool {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
    }
}

fn prompt_err(e: dialoguer::Error) -> SetupError {
    match e {
        dialoguer::Error::IO(e) => SetupError::Io(e),
    }
}

impl Ask for Terminal {
    fn choose(&mut self, prompt: &str, options: &[String], default: usize) -> Result<usize> {
        dialoguer::Select::new()
            .with_prompt(prompt)
            .items(options)
            .default(default.min(options.len().saturating_sub(1)))
            .interact_opt()
            .map_err(prompt_err)?
            .ok_or(SetupError::Cancelled)
    }

    fn text(&mut self, prompt: &str, default: &str) -> Result<String> {
        let answer: String = dialoguer::Input::new()
            .with_prompt(prompt)
            .default(default.to_string())
            .allow_empty(true)
            .interact_text()
            .map_err(prompt_err)?;
        let answer = answer.trim();
        Ok(if answer.is_empty() { default } else { answer }.to_string())
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool> {
        dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(default)
            .interact_opt()
            .map_err(prompt_err)?
            .ok_or(SetupError::Cancelled)
    }

    fn note(&mut self, line: &str) -> Result<()> {
        eprintln!("{line}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_names_and_prefixes_pick_options() {
        let o = opts(&[
            "quick experiment",
            "character model",
            "general model",
            "fine-tune",
        ]);
        assert_eq!(pick(&o, "2"), Ok(1));
        assert_eq!(pick(&o, "General Model"), Ok(2));
        assert_eq!(pick(&o, "fine"), Ok(3));
        assert!(pick(&o, "5").unwrap_err().contains("1-4"));
        assert!(pick(&o, "0").is_err());
        assert!(pick(&o, "zzz").unwrap_err().contains("not an option"));
        let o = opts(&["mewtwo", "marth"]);
        assert!(pick(&o, "m").unwrap_err().contains("mewtwo or marth"));
    }

    #[test]
    fn bad_answers_are_asked_again_and_eof_takes_the_default() {
        let o = opts(&["a", "b", "c"]);
        let mut ask = Lines::new(&b"9\nnope\nc\n"[..], Vec::new());
        assert_eq!(ask.choose("Which?", &o, 0).unwrap(), 2);
        assert_eq!(ask.choose("Again?", &o, 1).unwrap(), 1, "EOF: the default");
        assert!(ask.confirm("Sure?", true).unwrap());
        assert_eq!(ask.text("Name?", "x").unwrap(), "x");
        let out = String::from_utf8(ask.into_output()).unwrap();
        assert!(out.contains("9 is not 1-3"), "{out}");
        assert!(out.contains("`nope` is not an option"), "{out}");
        assert!(out.contains("  2. b  (default)"), "{out}");
    }

    #[test]
    fn confirm_and_text_read_their_answers() {
        let mut ask = Lines::new(&b"maybe\nYES\n\n  /some dir \n"[..], Vec::new());
        assert!(ask.confirm("Run?", false).unwrap());
        assert!(!ask.confirm("Run?", false).unwrap(), "Enter: the default");
        assert_eq!(ask.text("Dir?", "d").unwrap(), "/some dir");
        let out = String::from_utf8(ask.into_output()).unwrap();
        assert!(out.contains("answer y or n"), "{out}");
    }

    #[test]
    fn endless_bad_answers_stop() {
        let input = "x\n".repeat(TRIES + 1);
        let mut ask = Lines::new(input.as_bytes(), Vec::new());
        let e = ask.confirm("Run?", false).unwrap_err();
        assert!(matches!(e, SetupError::TooManyTries(_)), "{e}");
    }
}
