//! General knowledge: "What is the capital of X?" for a fixed list of countries, graded by
//! whether the reply names the capital. A pretrained chat model knows many of these; no
//! expert trains on them, so a merged or fine-tuned model's score, over the base's, says how
//! much of the base's general knowledge it kept (skill retention).

use crate::answer::{AnswerProblem, AnswerTask, Matching};
use crate::error::TaskError;
use crate::model::GenParams;
use crate::suite_settings::WithSettings;

/// (country, capital, other accepted spellings), best-known first. Countries whose capital is
/// disputed, shared or commonly confused with another city are left out.
const CAPITALS: &[(&str, &str, &[&str])] = &[
    ("France", "Paris", &[]),
    ("Japan", "Tokyo", &[]),
    ("Germany", "Berlin", &[]),
    ("Italy", "Rome", &["Roma"]),
    ("Spain", "Madrid", &[]),
    ("the United Kingdom", "London", &[]),
    ("Russia", "Moscow", &[]),
    ("China", "Beijing", &["Peking"]),
    ("Egypt", "Cairo", &[]),
    ("Canada", "Ottawa", &[]),
    ("Mexico", "Mexico City", &[]),
    ("Greece", "Athens", &[]),
    ("Portugal", "Lisbon", &["Lisboa"]),
    ("Ireland", "Dublin", &[]),
    ("Austria", "Vienna", &["Wien"]),
    ("Poland", "Warsaw", &[]),
    ("Sweden", "Stockholm", &[]),
    ("Norway", "Oslo", &[]),
    ("Denmark", "Copenhagen", &[]),
    ("Finland", "Helsinki", &[]),
    ("the Netherlands", "Amsterdam", &[]),
    ("Belgium", "Brussels", &["Bruxelles"]),
    ("South Korea", "Seoul", &[]),
    ("Thailand", "Bangkok", &[]),
    ("Argentina", "Buenos Aires", &[]),
    ("Peru", "Lima", &[]),
    ("Kenya", "Nairobi", &[]),
    ("India", "New Delhi", &[]),
    ("Australia", "Canberra", &[]),
    ("Hungary", "Budapest", &[]),
    ("the Czech Republic", "Prague", &["Praha"]),
    ("Cuba", "Havana", &[]),
    ("Iran", "Tehran", &["Teheran"]),
    ("Iraq", "Baghdad", &[]),
    ("Saudi Arabia", "Riyadh", &[]),
    ("Indonesia", "Jakarta", &[]),
    ("the Philippines", "Manila", &[]),
    ("Vietnam", "Hanoi", &[]),
    ("Chile", "Santiago", &[]),
    ("Colombia", "Bogota", &["Bogotá"]),
    ("Venezuela", "Caracas", &[]),
    ("Brazil", "Brasilia", &["Brasília"]),
    ("New Zealand", "Wellington", &[]),
    ("Turkey", "Ankara", &[]),
    ("Ukraine", "Kyiv", &["Kiev"]),
    ("Romania", "Bucharest", &[]),
    ("Bulgaria", "Sofia", &[]),
    ("Serbia", "Belgrade", &[]),
    ("Croatia", "Zagreb", &[]),
    ("Iceland", "Reykjavik", &["Reykjavík"]),
    ("Afghanistan", "Kabul", &[]),
    ("Pakistan", "Islamabad", &[]),
    ("Bangladesh", "Dhaka", &[]),
    ("Nepal", "Kathmandu", &[]),
    ("Syria", "Damascus", &[]),
    ("Lebanon", "Beirut", &[]),
    ("Jordan", "Amman", &[]),
    ("Qatar", "Doha", &[]),
    ("Morocco", "Rabat", &[]),
    ("Algeria", "Algiers", &[]),
    ("Tunisia", "Tunis", &[]),
    ("Nigeria", "Abuja", &[]),
    ("Ghana", "Accra", &[]),
    ("Senegal", "Dakar", &[]),
    ("Ethiopia", "Addis Ababa", &[]),
    ("Malaysia", "Kuala Lumpur", &[]),
    ("Mongolia", "Ulaanbaatar", &["Ulan Bator"]),
    ("North Korea", "Pyongyang", &[]),
    ("Cambodia", "Phnom Penh", &[]),
    ("Laos", "Vientiane", &[]),
    ("Uruguay", "Montevideo", &[]),
    ("Paraguay", "Asuncion", &["Asunción"]),
    ("Ecuador", "Quito", &[]),
    ("Jamaica", "Kingston", &[]),
    ("Haiti", "Port-au-Prince", &[]),
    ("the Dominican Republic", "Santo Domingo", &[]),
    ("Estonia", "Tallinn", &[]),
    ("Latvia", "Riga", &[]),
    ("Lithuania", "Vilnius", &[]),
    ("Slovakia", "Bratislava", &[]),
    ("Slovenia", "Ljubljana", &[]),
    ("Albania", "Tirana", &[]),
    ("Belarus", "Minsk", &[]),
    ("Armenia", "Yerevan", &[]),
    ("Georgia", "Tbilisi", &[]),
    ("Azerbaijan", "Baku", &[]),
    ("Uzbekistan", "Tashkent", &[]),
    ("Kyrgyzstan", "Bishkek", &[]),
    ("Zimbabwe", "Harare", &[]),
    ("Zambia", "Lusaka", &[]),
    ("Uganda", "Kampala", &[]),
    ("Rwanda", "Kigali", &[]),
    ("Angola", "Luanda", &[]),
    ("Sudan", "Khartoum", &[]),
    ("Libya", "Tripoli", &[]),
    ("Somalia", "Mogadishu", &[]),
    ("Madagascar", "Antananarivo", &[]),
    ("Mozambique", "Maputo", &[]),
    ("Namibia", "Windhoek", &[]),
    ("Botswana", "Gaborone", &[]),
];

/// The questions of the first `count` countries (all of them when `count` is larger).
pub fn capitals_task(name: &str, count: usize) -> Result<AnswerTask, TaskError> {
    let problems = CAPITALS
        .iter()
        .take(count)
        .enumerate()
        .map(|(i, (country, capital, also))| AnswerProblem {
            id: format!("capitals/{i}"),
            question: format!("What is the capital of {country}?"),
            answer: capital.to_string(),
            also: also.iter().map(|a| a.to_string()).collect(),
        })
        .collect();
    Ok(AnswerTask::new(name, problems)?
        .with_matching(Matching::Mentions)
        .with_gen_params(GenParams {
            max_new_tokens: 32,
            stop: vec![],
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{EmptyModel, ProvidesReferences, ReferenceAnswers};
    use crate::{EvalOptions, Task};

    #[test]
    fn the_list_has_distinct_countries_and_capitals() {
        let mut countries: Vec<_> = CAPITALS.iter().map(|c| c.0).collect();
        let mut capitals: Vec<_> = CAPITALS.iter().map(|c| c.1).collect();
        countries.sort();
        countries.dedup();
        capitals.sort();
        capitals.dedup();
        assert_eq!(countries.len(), CAPITALS.len());
        assert_eq!(capitals.len(), CAPITALS.len());
        assert_eq!(capitals_task("c", usize::MAX).unwrap().len(), 100);
    }

    #[test]
    fn reference_answers_pass_and_empty_replies_fail() {
        let task = capitals_task("capitals", 12).unwrap();
        assert_eq!(task.len(), 12);
        let oracle = ReferenceAnswers::new("capitals", task.reference_dialogues()).unwrap();
        let options = EvalOptions::default();
        assert_eq!(task.evaluate(&oracle, &options).unwrap().passed, 12);
        assert_eq!(task.evaluate(&EmptyModel, &options).unwrap().passed, 0);
        assert_ne!(
            task.fingerprint(),
            capitals_task("capitals", 11).unwrap().fingerprint()
        );
    }
}
