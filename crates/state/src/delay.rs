//! The controller delay of play: a decision made on one frame is applied `delay` frames later,
//! the same in Dolphin, the simulator and training's delay feature.

use std::collections::VecDeque;

/// Applies each decision exactly `delay` frames after it was made: the first `delay` frames of
/// a game get the neutral action. Cleared when a game starts.
#[derive(Clone, Debug)]
pub struct DelayQueue<T: Clone> {
    delay: usize,
    neutral: T,
    queue: VecDeque<T>,
}

impl<T: Clone> DelayQueue<T> {
    /// A queue of `delay` frames, filled with `neutral`.
    pub fn new(delay: usize, neutral: T) -> DelayQueue<T> {
        let mut q = DelayQueue {
            delay,
            neutral,
            queue: VecDeque::with_capacity(delay + 1),
        };
        q.clear();
        q
    }

    /// Back to `delay` neutral actions (a new game).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.queue
            .extend(std::iter::repeat_n(self.neutral.clone(), self.delay));
    }

    /// Takes this frame's decision; returns the action to apply this frame (the decision of
    /// `delay` frames ago).
    pub fn push(&mut self, decision: T) -> T {
        self.queue.push_back(decision);
        self.queue
            .pop_front()
            .expect("the queue holds delay + 1 actions")
    }

    /// The delay in frames.
    pub fn delay(&self) -> usize {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::DelayQueue;

    #[test]
    fn each_decision_lands_delay_frames_later_and_clear_restarts_neutral() {
        let mut q = DelayQueue::new(2, 0);
        assert_eq!([q.push(1), q.push(2), q.push(3), q.push(4)], [0, 0, 1, 2]);
        q.clear();
        assert_eq!([q.push(5), q.push(6), q.push(7)], [0, 0, 5]);
        let mut now = DelayQueue::new(0, 0);
        assert_eq!(now.push(9), 9);
        assert_eq!(q.delay(), 2);
    }
}
