//! BPE merges recovered from a SentencePiece vocabulary and its scores.
//!
//! GGUF files of SentencePiece models carry tokens and scores but no merges. A merge `(l, r)`
//! exists for every token that splits into two tokens `l + r`; merges are ranked by the merged
//! token's score, best first, then by the lengths of `l` and `r`, longest first. This is the
//! rule `transformers` uses (`generate_merges`), including its tie order: equal keys keep the
//! order of the vocabulary, and within one token the splits are ordered by the ids of `l`, `r`.

use std::cmp::Ordering;
use std::collections::HashMap;

/// Merges for `tokens` with `scores` (same length); `ids` maps each token to its id.
pub fn spm_merges<'a>(
    tokens: &[&'a str],
    scores: &[f32],
    ids: &HashMap<&str, usize>,
) -> Vec<(&'a str, &'a str)> {
    // The score of a repeated token is its last one, at the position of its first appearance.
    let mut first_seen: Vec<(&'a str, f32)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (&token, &score) in tokens.iter().zip(scores) {
        match position.get(token) {
            Some(&at) => first_seen[at].1 = score,
            None => {
                position.insert(token, first_seen.len());
                first_seen.push((token, score));
            }
        }
    }
    let mut merges: Vec<(&'a str, &'a str, f32)> = Vec::new();
    for (token, score) in first_seen {
        let mut local: Vec<(&'a str, &'a str, f32)> = token
            .char_indices()
            .skip(1)
            .map(|(at, _)| token.split_at(at))
            .filter(|(l, r)| ids.contains_key(l) && ids.contains_key(r))
            .map(|(l, r)| (l, r, score))
            .collect();
        local.sort_by_key(|(l, r, _)| (ids[l], ids[r]));
        merges.extend(local);
    }
    // Stable, so ties keep the order built above.
    merges.sort_by(|a, b| {
        b.2.partial_cmp(&a.2)
            .unwrap_or(Ordering::Equal)
            .then_with(|| b.0.chars().count().cmp(&a.0.chars().count()))
            .then_with(|| b.1.chars().count().cmp(&a.1.chars().count()))
    });
    merges.into_iter().map(|(l, r, _)| (l, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_score_then_length() {
        let tokens = ["a", "b", "c", "ab", "abc", "bc"];
        let scores = [0.0, 0.0, 0.0, -1.0, -3.0, -2.0];
        let ids: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        assert_eq!(
            spm_merges(&tokens, &scores, &ids),
            // "abc" splits as a+bc and ab+c: equal score, longer left piece first.
            [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")]
        );
    }

    #[test]
    fn splits_on_characters_not_bytes() {
        let tokens = ["▁", "é", "▁é"];
        let ids: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        assert_eq!(spm_merges(&tokens, &[0.0, 0.0, -1.0], &ids), [("▁", "é")]);
    }
}
