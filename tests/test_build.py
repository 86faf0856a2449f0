"""The zoo builder turns recipes into the exact `aezoo train` command lines."""

import shlex

from aezoo.cli import build_parser
from benchmarks.pretrained.build import load_recipes, train_arguments


def test_every_recipe_is_a_valid_train_command():
    parser = build_parser()
    recipes = load_recipes()
    assert recipes
    for recipe in recipes:
        args = parser.parse_args(["train", *train_arguments(recipe)])
        assert args.model == recipe["model"] and args.epochs == recipe["epochs"]
        assert args.seed == recipe["seed"] and args.dataset == recipe["dataset"]


def test_arguments_round_trip_family_values():
    recipe = {"model": "denoising_conv", "dataset": "mnist", "epochs": 3, "batch_size": 64,
              "learning_rate": 0.001, "seed": 1,
              "model_kwargs": {"latent_dim": 8, "filters": [32, 64], "noise": "masking", "noise_level": 0.3}}
    from aezoo.cli import model_kwargs

    args = build_parser().parse_args(["train", *shlex.split(shlex.join(train_arguments(recipe)))])
    assert model_kwargs(args) == {"latent_dim": 8, "filters": [32, 64], "noise": "masking", "noise_level": 0.3}
