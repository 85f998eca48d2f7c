//! GPT-2's reversible byte-to-character map, in which byte-level BPE vocabularies are spelled.

/// Printable Latin-1 bytes stand for themselves; the other 68 bytes for U+0100..U+0143 in byte
/// order (so a space is `Ġ` and a newline `Ċ`).
pub struct ByteAlphabet {
    chars: [char; 256],
}

/// How many bytes are remapped above U+00FF.
const REMAPPED: u32 = 68;

impl ByteAlphabet {
    /// The map.
    pub fn new() -> ByteAlphabet {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let mut chars = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..=255u8 {
            chars[b as usize] = if printable(b) {
                char::from(b)
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or(char::REPLACEMENT_CHARACTER)
            };
        }
        ByteAlphabet { chars }
    }

    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        (c <= 0xFF && self.chars[c as usize] as u32 == c) || (256..256 + REMAPPED).contains(&c)
    }

    /// Whether every character of `token` is one of the 256 alphabet characters.
    pub fn spells(&self, token: &str) -> bool {
        token.chars().all(|c| self.contains(c))
    }

    /// The token as a byte-level vocabulary writes it: unchanged if already spelled in the
    /// alphabet, else its UTF-8 bytes mapped through the alphabet.
    pub fn spell(&self, token: &str) -> String {
        if self.spells(token) {
            token.to_string()
        } else {
            token.bytes().map(|b| self.chars[b as usize]).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_gpt2() {
        let alphabet = ByteAlphabet::new();
        assert_eq!(alphabet.chars[b' ' as usize], 'Ġ');
        assert_eq!(alphabet.chars[b'\n' as usize], 'Ċ');
        assert_eq!(alphabet.chars[b'a' as usize], 'a');
        // The soft hyphen is the last of the 68 remapped bytes.
        assert_eq!(alphabet.chars[0xAD], 'Ń');
        assert_eq!(alphabet.spell("Ġhello"), "Ġhello");
        assert_eq!(alphabet.spell("a b"), "aĠb");
        assert!(!alphabet.spells("é\u{0}"));
        let distinct: std::collections::HashSet<char> = alphabet.chars.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert!(alphabet.chars.iter().all(|&c| alphabet.contains(c)));
    }
}
