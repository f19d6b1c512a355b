//! Rounds: each runs the baseline, if any, then sluice, on fresh topics;
//! the median round is the one the summary shows.

use sluice_testkit::{MockKafka, create_topic};

use crate::args::Args;
use crate::run::{self, Outcome, Workload};
use crate::workload::LoadEvent;

/// One round: the baseline's outcome, if any, and sluice's.
pub(crate) struct Round {
    pub(crate) raw: Option<Outcome>,
    pub(crate) sluice: Outcome,
}

impl Round {
    /// sluice/raw end to end, or sluice's rate without a baseline.
    pub(crate) fn score(&self) -> f64 {
        match &self.raw {
            Some(raw) => self.sluice.end_to_end_rate() / raw.end_to_end_rate(),
            None => self.sluice.end_to_end_rate(),
        }
    }
}

/// The index of the median score (the upper middle of an even count).
/// There is always one: `--rounds` is at least 1.
pub(crate) fn median(scores: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    order[order.len() / 2]
}

pub(crate) async fn run_rounds<E: LoadEvent>(
    args: &Args,
    workload: &Workload,
    mock: Option<&MockKafka>,
) -> anyhow::Result<Vec<Round>> {
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let mut workload = workload.clone();
        if args.rounds > 1 {
            workload.topic = format!("{}.{round}", workload.topic);
            eprintln!("round {round} of {}", args.rounds);
        }
        let (raw, sluice) = run_all::<E>(args, &workload, mock).await?;
        rounds.push(Round { raw, sluice });
    }
    Ok(rounds)
}

async fn run_all<E: LoadEvent>(
    args: &Args,
    workload: &Workload,
    mock: Option<&MockKafka>,
) -> anyhow::Result<(Option<Outcome>, Outcome)> {
    let bootstrap = workload.kafka.bootstrap_servers.as_str();
    let create = |topic: String| async move {
        match mock {
            Some(mock) => mock.create_topic(&topic, workload.partitions),
            None => create_topic(bootstrap, &topic, workload.partitions).await,
        }
    };
    let raw = match args.baseline {
        Some(baseline) => {
            let topic = format!("{}.raw", workload.topic);
            create(topic.clone()).await?;
            eprintln!("baseline: bare rdkafka ({baseline:?}) on {topic}");
            Some(run::raw::<E>(workload, &topic, baseline.records()).await?)
        }
        None => None,
    };
    create(workload.topic.clone()).await?;
    eprintln!("sluice on {}", workload.topic);
    let sluice = run::sluice::<E>(workload, &workload.topic).await?;
    Ok((raw, sluice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_round_is_the_middle_score() {
        assert_eq!(median(&[0.9]), 0);
        assert_eq!(median(&[0.8, 1.1, 0.9]), 2);
        assert_eq!(median(&[1.1, 0.8]), 0, "the upper of two");
        assert_eq!(median(&[f64::NAN, 0.8, 0.9]), 2, "NaN sorts last");
    }
}
