"""The embedded-mode sparse scorer gives exactly the scores of qdrant-client's own."""

import random

import numpy as np
from qdrant_client.http.models import SparseVector
from qdrant_client.local import sparse_distances

from assistant import local_speedups


def _vec(rng, n):
    idx = sorted(rng.sample(range(500), n))
    return SparseVector(indices=idx, values=[rng.random() for _ in idx])


def test_same_scores_as_qdrant_client():
    rng = random.Random(7)
    vectors = [_vec(rng, rng.randint(1, 60)) for _ in range(300)]
    for _ in range(20):
        q = _vec(rng, rng.randint(1, 8))
        for empty_is_zero in (False, True):
            want = sparse_distances.calculate_distance_sparse(q, vectors, empty_is_zero)
            got = local_speedups.calculate_distance_sparse(q, vectors, empty_is_zero)
            np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isneginf(local_speedups.calculate_distance_sparse(SparseVector(indices=[999], values=[1.0]),
                                                                vectors[:3])).all()


def test_applied_in_embedded_mode(corpus_store):
    from qdrant_client.local import local_collection

    assert local_collection.calculate_distance_sparse is local_speedups.calculate_distance_sparse
