//! Reinforcement learning in the simulator, above imitation training: the PPO update over
//! rollouts of a policy (`ppo`: GAE, the clipped objective with value clipping, entropy and a KL
//! term to a teacher, minibatches of rows or of whole games for recurrent policies), the reward
//! shaped from simulator steps (`reward`), and what self-play keeps of its opponents
//! (`league`: Elo ratings, snapshot populations, prioritised fictitious self-play), matches
//! between agents with their summaries (`matches`), evaluations during a run and the choice of
//! its policy (`evals`), the whole run (`runner`: learners,
//! rollouts, league roles, checkpoints, resume, the run directory), and the commands' way from
//! their arguments to a validated config, a dry run or the run (`launch`).
#![deny(missing_docs)]

pub mod error;
pub mod evals;
pub mod launch;
pub mod league;
pub mod matches;
pub mod ppo;
pub mod reward;
pub mod runner;
