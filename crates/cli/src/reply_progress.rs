//! Progress of an evaluation: a `TextModel` that passes every call through and advances a bar
//! by the replies generated, so `cycleqd eval` shows replies per second and an ETA per task.

use std::path::Path;

use cycleqd_tasks::{ChatMessage, GenParams, ModelError, TextModel};
use indicatif::ProgressBar;

/// `model`, counting its replies on `bar`.
pub struct ReplyProgress<'a> {
    model: &'a dyn TextModel,
    bar: ProgressBar,
}

impl<'a> ReplyProgress<'a> {
    /// Counts `model`'s replies on `bar`, whose length is the replies expected (one per
    /// problem; multi-turn tasks ask for more, and the bar grows with them).
    pub fn new(model: &'a dyn TextModel, bar: ProgressBar) -> Self {
        Self { model, bar }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl TextModel for ReplyProgress<'_> {
    fn identity(&self) -> String {
        self.model.identity()
    }

    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        self.model.chat_prompt(messages)
    }

    fn generate(&self, prompts: &[String], params: &GenParams) -> Result<Vec<String>, ModelError> {
        let replies = self.model.generate(prompts, params)?;
        self.bar.inc(replies.len() as u64);
        let done = self.bar.position();
        if self.bar.length().is_some_and(|len| done > len) {
            self.bar.set_length(done);
        }
        Ok(replies)
    }

    fn folder(&self) -> Option<&Path> {
        self.model.folder()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cycleqd_tasks::oracle::EmptyModel;
    use indicatif::ProgressDrawTarget;

    #[test]
    fn replies_pass_through_and_are_counted_past_the_expected_length() {
        let model = EmptyModel;
        let progress = ReplyProgress::new(
            &model,
            ProgressBar::with_draw_target(Some(2), ProgressDrawTarget::hidden()),
        );
        let params = GenParams {
            max_new_tokens: 4,
            stop: vec![],
        };
        let prompts = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let replies = progress.generate(&prompts, &params).unwrap();
        assert_eq!(replies, model.generate(&prompts, &params).unwrap());
        assert_eq!(progress.bar.position(), 3);
        assert_eq!(progress.bar.length(), Some(3));
        assert_eq!(progress.identity(), model.identity());
    }
}
