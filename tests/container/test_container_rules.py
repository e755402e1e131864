"""Differential test: our reading of the XGBoost container's hyperparameter rules, row by row, against the
emulator's judgement, for every container version.

Each row names the container file and line it comes from: algorithm_mode/hyperparameter_validation.py
("hpv") and sagemaker_algorithm_toolkit/hyperparameter_validation.py ("toolkit") of
aws/sagemaker-xgboost-container, at branch 1.7-1 (f7a93a2), tag v3.0-5 (ef8e05c) and the default branch
(3.2, cb8df91); the lines cited are the same in the three. ``None`` expects the job to be accepted.
"""

from __future__ import annotations

import pytest

from offline import container_rules, xgboost_algorithm

BASE = {"num_round": "10", "objective": "reg:squarederror"}

# (case, hyperparameters added to BASE (None: removed), expected FailureReason or None, source)
ROWS: list[tuple[str, dict[str, str | None], str | None, str]] = [
    ("minimal job", {}, None, "hpv:143"),
    (
        "num_round required",
        {"num_round": None},
        "ClientError: Missing required hyperparameter: num_round",
        "toolkit:268",
    ),
    (
        "unknown name",
        {"precision_dtype": "float32"},
        "ClientError: Extraneous hyperparameter found: precision_dtype",
        "toolkit:278",
    ),
    (
        "XGBoost name the container does not declare",
        {"max_cat_to_onehot": "4"},
        "ClientError: Extraneous hyperparameter found: max_cat_to_onehot",
        "toolkit:278",
    ),
    (
        "integer that is a float",
        {"num_round": "1.5"},
        "ClientError: Hyperparameter num_round: could not parse value (caused by ValueError)",
        "toolkit:282",
    ),
    (
        "num_round below 1",
        {"num_round": "0"},
        "ClientError: Hyperparameter num_round: 0 is not in [1, +inf)",
        "hpv:143, toolkit:52",
    ),
    ("eta closed at 1", {"eta": "1"}, None, "hpv:155"),
    ("eta above 1", {"eta": "1.5"}, "ClientError: Hyperparameter eta: 1.5 is not in [0, 1]", "hpv:155"),
    ("alias learning_rate", {"learning_rate": "0.3"}, None, "hpv:341"),
    (
        "alias checked as its name",
        {"learning_rate": "2"},
        "ClientError: Hyperparameter eta: 2.0 is not in [0, 1]",
        "hpv:341",
    ),
    ("alias reg_alpha", {"reg_alpha": "0.5"}, None, "hpv:344"),
    ("alias reg_lambda", {"reg_lambda": "2"}, None, "hpv:343"),
    (
        "alias min_split_loss",
        {"min_split_loss": "-1"},
        "ClientError: Hyperparameter gamma: -1.0 is not in [0, +inf)",
        "hpv:342",
    ),
    (
        "subsample open at 0",
        {"subsample": "0"},
        "ClientError: Hyperparameter subsample: 0.0 is not in (0, 1]",
        "hpv:190",
    ),
    ("subsample closed at 1", {"subsample": "1"}, None, "hpv:190"),
    (
        "seed open at 2**31-1",
        {"seed": "2147483647"},
        "ClientError: Hyperparameter seed: 2147483647 is not in (-2147483648, 2147483647)",
        "hpv:324",
    ),
    (
        "tweedie_variance_power open at 2",
        {"tweedie_variance_power": "2"},
        "ClientError: Hyperparameter tweedie_variance_power: 2.0 is not in (1, 2)",
        "hpv:281",
    ),
    (
        "categorical value",
        {"booster": "gbtree2"},
        "ClientError: Hyperparameter booster: gbtree2 is not in ['gbtree', 'gblinear', 'dart']",
        "hpv:151",
    ),
    (
        "tree_method value",
        {"tree_method": "gpu"},
        (
            "ClientError: Hyperparameter tree_method: gpu is not in ['auto', 'exact', 'approx', 'hist', "
            "'gpu_hist']"
        ),
        "hpv:231",
    ),
    ("reg:absoluteerror", {"objective": "reg:absoluteerror"}, None, "hpv:302"),
    (
        "multi-class without num_class",
        {"objective": "multi:softmax"},
        "ClientError: Require input for parameter 'num_class' for multi-classification",
        "hpv:86",
    ),
    (
        "multi-class with num_class",
        {"objective": "multi:softprob", "num_class": "3"},
        None,
        "hpv:86, hpv:310",
    ),
    (
        "num_class below 2",
        {"num_class": "1"},
        "ClientError: Hyperparameter num_class: 1 is not in [2, +inf)",
        "hpv:310",
    ),
    ("a metric the container computes", {"eval_metric": "r2,mse"}, None, "hpv:318"),
    (
        "metrics list with a space",
        {"eval_metric": "rmse, mae"},
        (
            "ClientError: Hyperparameter eval_metric: value ['rmse', ' mae'] not in range ['accuracy', "
            "'auc', 'aucpr', 'balanced_accuracy', 'f1', 'f1_binary', 'f1_macro', 'map', 'ndcg', "
            "'precision', 'r2', 'recall', 'precision_macro', 'precision_micro', 'recall_macro', "
            "'recall_micro', 'aft-nloglik', "
            "'cox-nloglik', 'error', 'gamma-deviance', 'gamma-nloglik', 'interval-regression-accuracy', "
            "'logloss', 'mae', 'mape', 'merror', 'mlogloss', 'mphe', 'mse', 'poisson-nloglik', 'rmse', "
            "'rmsle', 'tweedie-nloglik']"
        ),
        "toolkit:178",
    ),
    (
        "eval_metric without objective",
        {"objective": None, "eval_metric": "rmse"},
        "AlgorithmError: framework error: KeyError: 'objective'",
        "hpv:115",
    ),
    (
        "auc on regression",
        {"eval_metric": "auc"},
        "ClientError: Metric 'auc' can only be applied for classification and ranking problems.",
        "hpv:118",
    ),
    ("auc on binary", {"objective": "binary:logistic", "eval_metric": "auc"}, None, "hpv:118"),
    (
        "aft-nloglik off survival:aft",
        {"eval_metric": "aft-nloglik"},
        "ClientError: Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.",
        "hpv:121",
    ),
    (
        "threshold metric error@t",
        {"objective": "binary:logistic", "eval_metric": "error@0.7"},
        None,
        "hpv:97",
    ),
    (
        "threshold on rmse",
        {"eval_metric": "rmse@2"},
        (
            "ClientError: Metric 'rmse@2' is not supported. Parameter 'eval_metric' with customized "
            "threshold should be one of these options: 'error', 'ndcg', 'map'."
        ),
        "hpv:102",
    ),
    (
        "threshold not a number",
        {"objective": "rank:ndcg", "eval_metric": "ndcg@x"},
        "ClientError: Threshold value 't' in 'ndcg@t' expects float input.",
        "hpv:108",
    ),
    ("tuning objective on validation", {"_tuning_objective_metric": "validation:f1"}, None, "hpv:316"),
    (
        "tuning objective on train",
        {"_tuning_objective_metric": "train:rmse"},
        "ClientError: Hyperparameter _tuning_objective_metric: train:rmse is not in",
        "hpv:316",
    ),
    (
        "monotone_constraints without tree_method",
        {"monotone_constraints": "(1,0)"},
        (
            "ClientError: monotone_constraints can be used only when the tree_method parameter is set to "
            "either 'exact' or 'hist'."
        ),
        "hpv:128",
    ),
    (
        "monotone_constraints with hist",
        {"monotone_constraints": "(1,0)", "tree_method": "hist"},
        None,
        "hpv:128",
    ),
    (
        "monotone_constraints value",
        {"monotone_constraints": "(2,0)", "tree_method": "hist"},
        "ClientError: Hyperparameter monotone_constraints: value (2, 0) not in range [-1, 0, 1]",
        "hpv:264, toolkit:219",
    ),
    (
        "interaction_constraints with approx",
        {"interaction_constraints": "[[1, 2]]", "tree_method": "approx"},
        None,
        "hpv:137",
    ),
    (
        "interaction_constraints with auto",
        {"interaction_constraints": "[[1, 2]]", "tree_method": "auto"},
        (
            "ClientError: interaction_constraints can be used only when the tree_method parameter is set to "
            "either 'exact', 'hist' or 'approx'."
        ),
        "hpv:137",
    ),
    (
        "updater outside the declared list",
        {"updater": "grow_quantile_histmaker"},
        "ClientError: Hyperparameter updater: value ['grow_quantile_histmaker'] not in range",
        "hpv:235, toolkit:178",
    ),
    (
        "two tree grow plugins",
        {"updater": "grow_colmaker,grow_histmaker"},
        "ClientError: Only one tree grow plugin can be selected.",
        "hpv:73",
    ),
    ("linear updater with gblinear", {"booster": "gblinear", "updater": "shotgun"}, None, "hpv:52"),
    (
        "tree updater with gblinear",
        {"booster": "gblinear", "updater": "prune"},
        "ClientError: Linear updater should be one of these options:",
        "hpv:52",
    ),
    (
        "process_type update",
        {"process_type": "update", "updater": "grow_colmaker"},
        "ClientError: process_type 'update' can only be used with updater 'refresh' and 'prune'",
        "hpv:58",
    ),
    (
        "linear updater with gbtree",
        {"updater": "shotgun"},
        "ClientError: Tree updater should be selected from these options:",
        "hpv:62",
    ),
    (
        "prob_buffer_row open at 1",
        {"prob_buffer_row": "1"},
        "ClientError: Hyperparameter prob_buffer_row: 1 is not in (1.0, +inf)",
        "hpv:336",
    ),
    (
        "_kfold at least 2",
        {"_kfold": "1"},
        "ClientError: Hyperparameter _kfold: 1 is not in [2, +inf)",
        "hpv:312",
    ),
]


@pytest.mark.parametrize("version", container_rules.VERSIONS)
@pytest.mark.parametrize(("case", "changes", "expected", "source"), ROWS, ids=[r[0] for r in ROWS])
def test_the_emulator_judges_as_the_container(
    version: str, case: str, changes: dict[str, str | None], expected: str | None, source: str
) -> None:
    hyperparameters = {**BASE, **{k: v for k, v in changes.items() if v is not None}}
    for name in (k for k, v in changes.items() if v is None):
        hyperparameters.pop(name)
    if expected is None:
        config = xgboost_algorithm.parse_hyperparameters(hyperparameters, version=version)
        assert config.num_round == int(hyperparameters["num_round"]), source
        return
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failure:
        xgboost_algorithm.parse_hyperparameters(hyperparameters, version=version)
    assert failure.value.reason.startswith(expected), f"{case} ({source}): {failure.value.reason}"


def test_an_alias_reaches_xgboost_under_its_declared_name() -> None:
    config = xgboost_algorithm.parse_hyperparameters({**BASE, "learning_rate": "0.25", "reg_alpha": "3"})
    assert config.params["eta"] == 0.25 and config.params["alpha"] == 3.0
    assert "learning_rate" not in config.params and "reg_alpha" not in config.params


def test_container_only_hyperparameters_do_not_reach_xgboost() -> None:
    config = xgboost_algorithm.parse_hyperparameters(
        {**BASE, "early_stopping_rounds": "5", "save_model_on_termination": "true", "csv_weights": "0"}
    )
    assert set(config.params) == {"objective", "csv_weights", "nthread", "verbosity"}
    assert config.save_model_on_termination is True and config.early_stopping_rounds == 5


@pytest.mark.parametrize("version", container_rules.VERSIONS)
def test_tuning_metrics_are_the_validation_metrics_with_the_containers_directions(version: str) -> None:
    rules = container_rules.rules(version)
    assert rules.tuning_metrics["validation:rmse"] == "Minimize"
    assert rules.tuning_metrics["validation:auc"] == "Maximize"
    assert rules.tuning_metrics["validation:f1"] == "Maximize"
    assert rules.tuning_metrics["validation:r2"] == "Maximize"
    assert rules.tuning_metrics["validation:mse"] == "Minimize"
    # metrics.py lists interval-regression-accuracy among the minimized ones; so does the container.
    assert rules.tuning_metrics["validation:interval-regression-accuracy"] == "Minimize"
    assert not [name for name in rules.tuning_metrics if not name.startswith("validation:")]
    assert len(rules.tuning_metrics) == 33


@pytest.mark.parametrize("version", container_rules.VERSIONS)
def test_tunable_hyperparameters_are_the_declared_tunable_ones(version: str) -> None:
    rules = container_rules.rules(version)
    assert rules.tunable == {
        "num_round",
        "eta",
        "gamma",
        "max_depth",
        "min_child_weight",
        "max_delta_step",
        "subsample",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "lambda",
        "alpha",
    }
    assert "learning_rate" not in rules.hyperparameters and rules.aliases["learning_rate"] == "eta"
    assert str(rules.hyperparameters["alpha"].tunable_range) == "[0, 1000]"


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "1.7-1"),
        ("sagemaker-xgboost:3.0-5", "3.0-5"),
        ("x.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.2-0-cpu-py3", "3.2-0"),
    ],
)
def test_the_version_comes_from_the_image_tag(image: str, version: str) -> None:
    assert container_rules.version_from_image(image) == version


def test_an_unknown_version_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"1\.5-1"):
        container_rules.version_from_image("sagemaker-xgboost:1.5-1")
    with pytest.raises(ValueError, match="unknown XGBoost container version"):
        container_rules.rules("0.90-2")


def test_early_stopping_follows_the_tuning_metric_and_its_listed_direction() -> None:
    tuned = xgboost_algorithm.parse_hyperparameters(
        {
            **BASE,
            "objective": "binary:logistic",
            "early_stopping_rounds": "3",
            "_tuning_objective_metric": "validation:auc",
        }
    )
    assert tuned.early_stopping_metric == "auc" and tuned.early_stopping_maximize is True
    # Without a tuning objective the last eval_metric decides; ndcg@5 is not a listed name: minimized.
    listed = xgboost_algorithm.parse_hyperparameters(
        {**BASE, "objective": "rank:ndcg", "early_stopping_rounds": "3", "eval_metric": "map,ndcg@5"}
    )
    assert listed.early_stopping_metric == "ndcg@5" and listed.early_stopping_maximize is False


def test_the_containers_own_metrics_are_computed_by_it_not_by_xgboost() -> None:
    config = xgboost_algorithm.parse_hyperparameters(
        {**BASE, "eval_metric": "rmse,mae,logloss", "objective": "binary:logistic"}
    )
    # In the order given (the container sorts only a union with the tuning metric).
    assert config.custom_metrics == ("rmse", "mae") and config.params["eval_metric"] == ["logloss"]
    only_custom = xgboost_algorithm.parse_hyperparameters(
        {**BASE, "_tuning_objective_metric": "validation:r2"}
    )
    # Nothing left for XGBoost: it computes its default metric, the container adds r2.
    assert only_custom.custom_metrics == ("r2",) and "eval_metric" not in only_custom.params
