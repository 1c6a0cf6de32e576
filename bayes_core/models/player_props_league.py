"""A synthetic football league with known truth, for the player-props model's example data.

Every round the teams are paired at random (home side at random); each squad member appears with
probability 0.8, as a starter (90 minutes, or 55–89 when substituted) or as a substitute (5–35).
Counts follow the model exactly: log λ_k = intercept_k + player_k + opponent_k + home_k·was_home
+ β_k·form + log(minutes/90); goals and cards Poisson, shots Negative Binomial (φ).
Player effects are multivariate normal with a strong positive goals–shots correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PROPS = ("goals", "shots", "cards")
INTERCEPT = np.log([0.15, 1.2, 0.15])
PLAYER_SD = np.array([0.6, 0.5, 0.4])
PLAYER_CORR = np.array([[1.0, 0.8, -0.1],
                        [0.8, 1.0, 0.1],
                        [-0.1, 0.1, 1.0]])
OPPONENT_SD = 0.2
HOME = np.array([0.2, 0.15, -0.15])
BETA_FORM = np.array([0.15, 0.10, 0.0])
SHOTS_PHI = 4.0
SEASON_START = "2025-08-16"

TRUE_PARAMETERS: dict[str, float] = {
    **{f"intercept_{p}": float(v) for p, v in zip(PROPS, INTERCEPT)},
    **{f"home_{p}": float(v) for p, v in zip(PROPS, HOME)},
    **{f"player_sd_{p}": float(v) for p, v in zip(PROPS, PLAYER_SD)},
    "corr_goals_shots": 0.8, "corr_goals_cards": -0.1, "corr_shots_cards": 0.1,
    "opponent_sd": OPPONENT_SD,
    **{f"beta_form_{p}": float(v) for p, v in zip(PROPS, BETA_FORM)},
    "shots_phi": SHOTS_PHI,
}


def synthetic_league(n_teams: int = 20, n_players: int = 250, n_rounds: int | None = None,
                     seed: int = 2025) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(data, effects): one row per player per match, and the true player/opponent effects."""
    if n_teams < 2 or n_teams % 2:
        raise ValueError("n_teams must be an even number ≥ 2")
    if n_players < n_teams:
        raise ValueError("n_players must be at least n_teams")
    rng = np.random.default_rng(seed)
    n_rounds = n_rounds or 2 * (n_teams - 1)  # a double round robin's worth of weeks
    teams = np.array([f"T{i:02d}" for i in range(n_teams)])
    players = np.array([f"P{i:03d}" for i in range(n_players)])
    squad = np.arange(n_players) % n_teams
    cov = np.outer(PLAYER_SD, PLAYER_SD) * PLAYER_CORR
    player_eff = rng.multivariate_normal(np.zeros(3), cov, size=n_players)      # (P, 3)
    opponent_eff = rng.normal(0.0, OPPONENT_SD, size=(n_teams, 3))              # (T, 3)

    rows_player, rows_opp, rows_home, rows_date = [], [], [], []
    dates = pd.date_range(SEASON_START, periods=n_rounds, freq="7D")
    for date in dates:
        order = rng.permutation(n_teams)
        home_teams, away_teams = order[0::2], order[1::2]
        for team, opp, home in ((home_teams, away_teams, 1), (away_teams, home_teams, 0)):
            for t, o in zip(team, opp):
                members = np.flatnonzero(squad == t)
                members = members[rng.random(members.size) < 0.8]
                rows_player.append(members)
                rows_opp.append(np.full(members.size, o))
                rows_home.append(np.full(members.size, home))
                rows_date.append(np.full(members.size, date))
    p = np.concatenate(rows_player)
    o = np.concatenate(rows_opp)
    home = np.concatenate(rows_home)
    n = p.size
    starter = rng.random(n) < 0.7
    minutes = np.where(starter, np.where(rng.random(n) < 0.6, 90, rng.integers(55, 90, n)), rng.integers(5, 36, n))
    form = rng.normal(0.0, 1.0, n)
    eta = (INTERCEPT + player_eff[p] + opponent_eff[o] + np.outer(home, HOME) + np.outer(form, BETA_FORM)
           + np.log(minutes / 90.0)[:, None])
    lam = np.exp(eta)
    shots_rate = rng.gamma(SHOTS_PHI, lam[:, 1] / SHOTS_PHI)  # NB as a Gamma–Poisson mixture
    data = pd.DataFrame({
        "date": pd.to_datetime(np.concatenate(rows_date)).strftime("%Y-%m-%d"),
        "player_id": players[p],
        "opponent_id": teams[o],
        "was_home": home.astype(bool),
        "minutes": minutes.astype(float),
        "goals": rng.poisson(lam[:, 0]),
        "shots": rng.poisson(shots_rate),
        "cards": rng.poisson(lam[:, 2]),
        "form": np.round(form, 4),
    })
    effects = {"player": player_eff, "opponent": opponent_eff, "players": players, "teams": teams}
    return data, effects
