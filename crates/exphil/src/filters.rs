//! Replay filter flags shared by every command that takes replays.

use anyhow::Result;
use clap::Args;
use exphil_corpus::Filter;
use exphil_dataset::FilterSettings;

/// Which replays to use.
#[derive(Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// Keep games with one of these characters (names or aliases: fox,falco,puff,ics,gnw,…).
    #[arg(long, value_delimiter = ',', value_name = "CHARS")]
    pub characters: Vec<String>,
    /// Keep games on one of these stages (names or aliases: bf,fd,fod,ys,ps,dl).
    #[arg(long, value_delimiter = ',', value_name = "STAGES")]
    pub stages: Vec<String>,
    /// Minimum game length in frames (60 per second).
    #[arg(long, value_name = "N")]
    pub min_frames: Option<usize>,
    /// Only games where every player is human (no CPUs).
    #[arg(long)]
    pub human_only: bool,
    /// Only games with exactly two players.
    #[arg(long = "one-v-one")]
    pub one_v_one: bool,
    /// Minimum quality score, 0–100 (see README, "Quality score").
    #[arg(long, value_name = "SCORE", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_quality: Option<u8>,
    /// Keep duplicate games (same content hash) instead of skipping all but the first.
    #[arg(long)]
    pub keep_duplicates: bool,
}

impl FilterArgs {
    /// The filter as given.
    pub fn settings(&self) -> FilterSettings {
        FilterSettings {
            characters: self.characters.clone(),
            stages: self.stages.clone(),
            min_frames: self.min_frames,
            human_only: self.human_only,
            one_v_one: self.one_v_one,
            min_quality: self.min_quality.map(u32::from),
            dedupe: !self.keep_duplicates,
        }
    }

    /// The validated filter; unknown character or stage names are an error naming them.
    pub fn to_filter(&self) -> Result<Filter> {
        Ok(self.settings().resolve()?)
    }
}
