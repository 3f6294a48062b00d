"""
rlft C++ core: batched decision-making environments and the action parser.
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ActionParser', 'ContextualBanditConfig', 'ContextualBanditVec', 'MeanDistribution', 'MultiArmedBanditConfig', 'MultiArmedBanditVec', 'NoiseLevel', 'PARSE_MAX_OPENERS', 'RewardType', 'Rng', 'TIC_TAC_TOE_MAX_MCTS_SIMULATIONS', 'TicTacToeConfig', 'TicTacToeIllegalAction', 'TicTacToeMoveChooser', 'TicTacToeOpponentConfig', 'TicTacToeOpponentKind', 'TicTacToeStarts', 'TicTacToeVec', 'bernoulli_gap_for', 'gaussian_sigma_for', 'mix_seed', 'tic_tac_toe_status', 'tic_tac_toe_values']
class Rng:
    """
    xoshiro256** stream seeded from (seed, stream); same as the envs'.
    """
    def __init__(self, seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def bernoulli(self, p: typing.SupportsFloat | typing.SupportsIndex) -> bool:
        ...
    def next_u64(self) -> int:
        ...
    def normal(self) -> float:
        """
        Standard normal (Box-Muller).
        """
    def normal_scaled(self, mean: typing.SupportsFloat | typing.SupportsIndex, stddev: typing.SupportsFloat | typing.SupportsIndex) -> float:
        ...
    def uniform(self) -> float:
        """
        Uniform double in [0, 1).
        """
    def uniform_int(self, n: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        Unbiased integer in [0, n).
        """
    def uniform_range(self, low: typing.SupportsFloat | typing.SupportsIndex, high: typing.SupportsFloat | typing.SupportsIndex) -> float:
        ...
    @property
    def state(self) -> typing.Annotated[list[int], "FixedSize(4)"]:
        ...
    @state.setter
    def state(self, arg1: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"]) -> None:
        ...
class RewardType:
    """
    Reward distribution of the arms.
    
    Members:
    
      GAUSSIAN
    
      BERNOULLI
    """
    BERNOULLI: typing.ClassVar[RewardType]
    GAUSSIAN: typing.ClassVar[RewardType]
    __members__: typing.ClassVar[dict[str, RewardType]]
    @typing.overload
    def __eq__(self, other: RewardType) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: RewardType) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class MeanDistribution:
    """
    How Gaussian arm means are drawn.
    
    Members:
    
      UNIFORM
    
      NORMAL
    """
    NORMAL: typing.ClassVar[MeanDistribution]
    UNIFORM: typing.ClassVar[MeanDistribution]
    __members__: typing.ClassVar[dict[str, MeanDistribution]]
    @typing.overload
    def __eq__(self, other: MeanDistribution) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: MeanDistribution) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class NoiseLevel:
    """
    Stochasticity level of a bandit.
    
    Members:
    
      LOW
    
      MEDIUM
    
      HIGH
    """
    HIGH: typing.ClassVar[NoiseLevel]
    LOW: typing.ClassVar[NoiseLevel]
    MEDIUM: typing.ClassVar[NoiseLevel]
    __members__: typing.ClassVar[dict[str, NoiseLevel]]
    @typing.overload
    def __eq__(self, other: NoiseLevel) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: NoiseLevel) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class MultiArmedBanditConfig:
    """
    Settings of the multi-armed bandit.
    """
    mean_distribution: MeanDistribution
    reward_type: RewardType
    def __init__(self) -> None:
        ...
    def validate(self) -> None:
        """
        Raises ValueError naming the first invalid field.
        """
    @property
    def gap(self) -> float:
        ...
    @gap.setter
    def gap(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def horizon(self) -> int:
        ...
    @horizon.setter
    def horizon(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def mean_high(self) -> float:
        ...
    @mean_high.setter
    def mean_high(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def mean_loc(self) -> float:
        ...
    @mean_loc.setter
    def mean_loc(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def mean_low(self) -> float:
        ...
    @mean_low.setter
    def mean_low(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def mean_scale(self) -> float:
        ...
    @mean_scale.setter
    def mean_scale(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def num_arms(self) -> int:
        ...
    @num_arms.setter
    def num_arms(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def pool_offset(self) -> int:
        ...
    @pool_offset.setter
    def pool_offset(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def pool_size(self) -> int:
        ...
    @pool_size.setter
    def pool_size(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def sigma(self) -> float:
        ...
    @sigma.setter
    def sigma(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def task_seed(self) -> int:
        ...
    @task_seed.setter
    def task_seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class MultiArmedBanditVec:
    """
    Batched multi-armed bandits (see rlft.envs.bandits).
    """
    @staticmethod
    def buffer_specs(config: MultiArmedBanditConfig, num_envs: typing.SupportsInt | typing.SupportsIndex) -> list:
        """
        List of (name, dtype, shape, doc) for every buffer the env writes.
        """
    def __init__(self, config: MultiArmedBanditConfig, num_envs: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, buffers: dict) -> None:
        ...
    def reset(self, seed: typing.SupportsInt | typing.SupportsIndex | None = None, mask: numpy.ndarray | None = None, task_ids: numpy.ndarray | None = None) -> None:
        """
        Start new episodes (all rows, or rows where mask is set) and write their first observations into the buffers.
        """
    def step(self, actions: numpy.ndarray) -> None:
        """
        Step every row with int32 actions[B]; writes results into the buffers.
        """
    @property
    def num_actions(self) -> int:
        ...
    @property
    def num_envs(self) -> int:
        ...
class ContextualBanditConfig:
    """
    Settings of the contextual bandit.
    """
    def __init__(self) -> None:
        ...
    def set_data(self, rewards: numpy.ndarray, contexts: numpy.ndarray, users: numpy.ndarray) -> None:
        """
        Copies the float32 reward table [U, K], contexts [U, d] and the split's int64 user rows once; all envs built from this config share the copy.
        """
    def validate(self) -> None:
        """
        Raises ValueError naming the first invalid field.
        """
    @property
    def has_data(self) -> bool:
        ...
    @property
    def horizon(self) -> int:
        ...
    @horizon.setter
    def horizon(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def noise_std(self) -> float:
        ...
    @noise_std.setter
    def noise_std(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def num_actions(self) -> int:
        ...
class ContextualBanditVec:
    """
    Batched MovieLens-style contextual bandits (see rlft.envs.contextual_bandit).
    """
    @staticmethod
    def buffer_specs(config: ContextualBanditConfig, num_envs: typing.SupportsInt | typing.SupportsIndex) -> list:
        """
        List of (name, dtype, shape, doc) for every buffer the env writes.
        """
    def __init__(self, config: ContextualBanditConfig, num_envs: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, buffers: dict) -> None:
        ...
    def reset(self, seed: typing.SupportsInt | typing.SupportsIndex | None = None, mask: numpy.ndarray | None = None, task_ids: numpy.ndarray | None = None) -> None:
        """
        Start new episodes (all rows, or rows where mask is set) and write their first observations into the buffers.
        """
    def step(self, actions: numpy.ndarray) -> None:
        """
        Step every row with int32 actions[B]; writes results into the buffers.
        """
    @property
    def num_actions(self) -> int:
        ...
    @property
    def num_envs(self) -> int:
        ...
class TicTacToeOpponentKind:
    """
    Who plays the other side.
    
    Members:
    
      random : uniformly random empty cell
    
      minimax : perfect play, ties uniformly at random
    
      mcts : UCT with random rollouts
    
      noisy : random with probability noise_prob, else noisy_base
    """
    __members__: typing.ClassVar[dict[str, TicTacToeOpponentKind]]
    mcts: typing.ClassVar[TicTacToeOpponentKind]
    minimax: typing.ClassVar[TicTacToeOpponentKind]
    noisy: typing.ClassVar[TicTacToeOpponentKind]
    random: typing.ClassVar[TicTacToeOpponentKind]
    @typing.overload
    def __eq__(self, other: TicTacToeOpponentKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: TicTacToeOpponentKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class TicTacToeStarts:
    """
    Who moves first in each episode.
    
    Members:
    
      agent
    
      opponent
    
      random : a fair coin per episode from the row's RNG
    """
    __members__: typing.ClassVar[dict[str, TicTacToeStarts]]
    agent: typing.ClassVar[TicTacToeStarts]
    opponent: typing.ClassVar[TicTacToeStarts]
    random: typing.ClassVar[TicTacToeStarts]
    @typing.overload
    def __eq__(self, other: TicTacToeStarts) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: TicTacToeStarts) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class TicTacToeIllegalAction:
    """
    What an occupied-cell action does.
    
    Members:
    
      random_move : flag it and play a uniformly random legal move instead (the paper's rule)
    
      lose : flag it and end the game with reward -1
    """
    __members__: typing.ClassVar[dict[str, TicTacToeIllegalAction]]
    lose: typing.ClassVar[TicTacToeIllegalAction]
    random_move: typing.ClassVar[TicTacToeIllegalAction]
    @typing.overload
    def __eq__(self, other: TicTacToeIllegalAction) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: TicTacToeIllegalAction) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class TicTacToeOpponentConfig:
    """
    Settings of a move chooser.
    """
    kind: TicTacToeOpponentKind
    noisy_base: TicTacToeOpponentKind
    def __init__(self) -> None:
        ...
    def validate(self) -> None:
        """
        Raise ValueError naming a bad field.
        """
    @property
    def mcts_exploration(self) -> float:
        ...
    @mcts_exploration.setter
    def mcts_exploration(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def mcts_simulations(self) -> int:
        ...
    @mcts_simulations.setter
    def mcts_simulations(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def noise_prob(self) -> float:
        ...
    @noise_prob.setter
    def noise_prob(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class TicTacToeConfig:
    """
    Settings of the tic-tac-toe env.
    """
    illegal_action: TicTacToeIllegalAction
    opponent: TicTacToeOpponentConfig
    starts: TicTacToeStarts
    def __init__(self) -> None:
        ...
    def validate(self) -> None:
        """
        Raise ValueError naming a bad field.
        """
class TicTacToeVec:
    """
    Batched tic-tac-toe: the agent plays 1 against the configured opponent playing 2.
    """
    @staticmethod
    def buffer_specs(config: TicTacToeConfig, num_envs: typing.SupportsInt | typing.SupportsIndex) -> list:
        """
        List of (name, dtype, shape, doc) for every buffer the env writes.
        """
    def __init__(self, config: TicTacToeConfig, num_envs: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, buffers: dict) -> None:
        ...
    def reset(self, seed: typing.SupportsInt | typing.SupportsIndex | None = None, mask: numpy.ndarray | None = None, task_ids: numpy.ndarray | None = None) -> None:
        """
        Start new episodes (all rows, or rows where mask is set) and write their first observations into the buffers.
        """
    def step(self, actions: numpy.ndarray) -> None:
        """
        Step every row with int32 actions[B]; writes results into the buffers.
        """
    @property
    def num_actions(self) -> int:
        ...
    @property
    def num_envs(self) -> int:
        ...
class TicTacToeMoveChooser:
    """
    Chooses moves for batches of boards with the env's opponents.
    """
    def __init__(self, config: TicTacToeOpponentConfig, num_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> None:
        ...
    def choose(self, boards: numpy.ndarray, player: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, out: numpy.ndarray | None = None) -> numpy.typing.NDArray[numpy.int32]:
        """
        Moves (int32[B]) for `player` (1 or 2) on int8[B, 9] non-terminal boards; row i draws from the RNG stream (seed, i). Writes into `out` when given.
        """
    @property
    def config(self) -> TicTacToeOpponentConfig:
        ...
class ActionParser:
    """
    Extracts action indices from model generations; see rlft.text.parser for the rules.
    """
    def __init__(self, labels: collections.abc.Sequence[str], patterns: collections.abc.Sequence[str], num_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> None:
        """
        labels and patterns as UTF-8 bytes (or str); raises ValueError on bad ones.
        """
    def parse(self, texts: typing.Any, legal_mask: numpy.ndarray | None = None) -> tuple:
        """
        Parse a list/tuple of str/bytes; returns (actions int32[B], status int8[B]).
        """
    def parse_one(self, text: typing.Any, legal: numpy.ndarray | None = None) -> tuple:
        """
        Parse one str/bytes; returns (action, status).
        """
    @property
    def labels(self) -> list:
        ...
    @property
    def num_labels(self) -> int:
        ...
    @property
    def num_threads(self) -> int:
        ...
    @property
    def patterns(self) -> list:
        ...
def bernoulli_gap_for(level: NoiseLevel) -> float:
    """
    Bernoulli best-vs-rest gap of a noise level: 0.5 / 0.2 / 0.1 (rlft's choice).
    """
def gaussian_sigma_for(level: NoiseLevel) -> float:
    """
    Gaussian reward stddev of a noise level: 0.1 / 1 / 3.
    """
def mix_seed(seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    The (seed, stream) -> 64-bit seed mixing used for every per-instance RNG.
    """
def tic_tac_toe_status(boards: numpy.ndarray) -> tuple:
    """
    (winner int8[B] (0 none), terminal bool[B], legal_mask bool[B, 9]) of int8[B, 9] boards.
    """
def tic_tac_toe_values(boards: numpy.ndarray, to_move: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int8]:
    """
    Game value (int8[B]: +1 forced win, 0 draw, -1 forced loss) for the player to move under perfect play; the outcome for terminal boards.
    """
PARSE_MAX_OPENERS: int = 4
TIC_TAC_TOE_MAX_MCTS_SIMULATIONS: int = 1000000
