"""Imputation accuracy: GaussianMixtureImputer against scikit-learn's imputers.

Real tables (scikit-learn's bundled iris, wine, breast_cancer, diabetes and the Old Faithful
data shipped with sklearn-em), each standardised; 20% of the cells hidden at random (a row
that lost every cell keeps one, chosen at random); every imputer fitted on the incomplete
table and scored by the RMSE of its fills on the hidden cells (standardised units). Seeded
masks, ``--repeats`` of them per table: mean and standard deviation over the repeats.

Ours is the imputer's default (BIC over k = 1..9 and scikit-learn's four covariance types);
``--all-models`` adds a column for the selector's own default grid (all 14 mclust models),
which the imputer's default was chosen against. "ours / best other" and "model chosen by
BIC" are the default's.

    python benchmarks/bench_imputer.py                 # 5 repeats, Markdown with --markdown
    python benchmarks/bench_imputer.py --repeats 2 --tables iris wine

Run by hand, never by pytest.
"""

import argparse
import time
import warnings

import numpy as np
from _common import machine_description, print_table
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from sklearn_em import GaussianMixtureImputer, GaussianMixtureSelector
from sklearn_em.datasets import load_faithful


def old_faithful():
    return load_faithful().data


TABLES = {
    "iris": lambda: datasets.load_iris().data,
    "wine": lambda: datasets.load_wine().data,
    "breast_cancer": lambda: datasets.load_breast_cancer().data,
    "diabetes": lambda: datasets.load_diabetes().data,
    "old_faithful": old_faithful,
}

IMPUTERS = {
    "mean": lambda seed: SimpleImputer(strategy="mean"),
    "knn": lambda seed: KNNImputer(),
    "iterative": lambda seed: IterativeImputer(max_iter=25, random_state=seed),
    # the default: BIC over k = 1..9 and scikit-learn's four covariance types
    "gmm (ours)": lambda seed: GaussianMixtureImputer(random_state=seed),
}
# the selector's own default grid, all 14 mclust models (--all-models; minutes per fit on
# breast_cancer)
ALL_MODELS = {
    "gmm, 14 models": lambda seed: GaussianMixtureImputer(
        GaussianMixtureSelector(random_state=seed)
    ),
}


def hide(X, fraction, rng):
    mask = rng.random(X.shape) < fraction
    empty = np.flatnonzero(mask.all(axis=1))
    mask[empty, rng.integers(0, X.shape[1], empty.size)] = False
    Xm = X.copy()
    Xm[mask] = np.nan
    return Xm, mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--all-models", action="store_true", help="also the 14-model grid")
    args = parser.parse_args()
    imputers = {**IMPUTERS, **(ALL_MODELS if args.all_models else {})}
    warnings.simplefilter("ignore", ConvergenceWarning)

    rows = []
    for name in args.tables:
        X = StandardScaler().fit_transform(TABLES[name]())
        errors = {imp: [] for imp in imputers}
        seconds = {imp: 0.0 for imp in imputers}
        chosen = []
        for seed in range(args.repeats):
            Xm, mask = hide(X, args.fraction, np.random.default_rng(seed))
            for imp, make in imputers.items():
                model = make(seed)
                start = time.perf_counter()
                filled = model.fit_transform(Xm)
                seconds[imp] += time.perf_counter() - start
                errors[imp].append(np.sqrt(np.mean((filled[mask] - X[mask]) ** 2)))
                if imp == "gmm (ours)":
                    p = model.estimator_.best_params_
                    chosen.append(f"{p['covariance_type']}/{p['n_components']}")
        means = {imp: np.mean(e) for imp, e in errors.items()}
        best_other = min(v for k, v in means.items() if not k.startswith("gmm"))
        cells = [f"{means[imp]:.3f} ± {np.std(errors[imp]):.3f}" for imp in imputers]
        rows.append(
            [
                f"{name} ({X.shape[0]}x{X.shape[1]})",
                *cells,
                f"{means['gmm (ours)'] / best_other:.2f}",
                ", ".join(sorted(set(chosen))),
                " / ".join(f"{seconds[imp] / args.repeats:.2f}" for imp in imputers),
            ]
        )
        print(f"done {name}", flush=True)

    print(machine_description())
    print(
        f"RMSE on the hidden cells (standardised units), {args.fraction:.0%} of cells hidden at "
        f"random, mean ± std over {args.repeats} seeded masks; lower is better"
    )
    print_table(
        [
            "table (n x d)",
            *imputers,
            "ours / best other",
            "model chosen by BIC",
            "seconds per fit (" + " / ".join(imputers) + ")",
        ],
        rows,
        markdown=args.markdown,
    )


if __name__ == "__main__":
    main()
