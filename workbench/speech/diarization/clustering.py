"""pyannote's agglomerative clustering, bounded: at most `max_train` embeddings clustered, the rest assigned."""

from __future__ import annotations

import itertools

import numpy as np
from pyannote.audio.pipelines.clustering import AgglomerativeClustering
from pyannote.pipeline.parameter import Uniform
from scipy.optimize import linear_sum_assignment


class BoundedAgglomerativeClustering(AgglomerativeClustering):
    """pyannote's agglomerative clustering on at most `max_train` embeddings, then nearest centroid.

    pyannote's `linkage` builds a condensed distance matrix of n(n-1)/2 floats: 5 GB for the
    ~36,000 embeddings of a 3-hour hearing at pyannote's default step. An evenly spaced sample
    keeps it at `max_train` (2000 -> 16 MB) whatever the duration; every embedding is then given
    the nearest centroid (O(n * k)), with the constraint that local speakers active at the same
    time in one chunk never share a cluster.

    The items are (chunk, local speaker, sub-window) triples: see `CamppSpeakerDiarization`.

    On long inputs a voice also forms tight satellite clusters (a stretch of one acoustic
    condition) that no similarity threshold tells from a second, similar voice. The segmentation
    model can: it follows one voice through a 10 s chunk as one local speaker, and gives two
    voices talking in the same chunk two local speakers. `_merge_one_voice` merges two clusters
    that share a local speaker `merge_ratio` times as often (plus one) as they appear as two.
    """

    def __init__(self, metric: str = "cosine", max_train: int = 2000) -> None:
        super().__init__(metric=metric, constrained_assignment=True)
        self.max_train = max_train
        # seconds of single-speaker speech a sub-window needs to take part in building clusters
        self.min_train_s = Uniform(0.1, 2.5)
        # 0 turns the merge off
        self.merge_ratio = Uniform(0.0, 20.0)

    def cluster_items(
        self,
        embeddings: np.ndarray,
        clean_s: np.ndarray,
        min_clusters: int | None,
        max_clusters: int | None,
        num_clusters: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """embeddings (c, s, q, d), clean seconds (c, s, q) -> hard clusters (c, s, q) (-2: none), centroids."""
        num_chunks, num_speakers, num_sub, dimension = embeddings.shape
        flat = embeddings.reshape(-1, dimension)
        valid = np.all(np.isfinite(flat), axis=1)
        train_idx = np.flatnonzero(valid & (clean_s.reshape(-1) >= self.min_train_s))
        if train_idx.size == 0:  # nothing long enough alone: use every valid item
            train_idx = np.flatnonzero(valid)
        if train_idx.size > self.max_train:
            pick = np.unique(np.linspace(0, train_idx.size - 1, self.max_train).round().astype(int))
            train_idx = train_idx[pick]
        train = flat[train_idx].astype(np.float64)
        num_clusters, min_clusters, max_clusters = self.set_num_clusters(
            train.shape[0], num_clusters=num_clusters, min_clusters=min_clusters, max_clusters=max_clusters
        )
        if max_clusters < 2 or train.shape[0] < 2:
            labels = np.zeros(train.shape[0], dtype=int)
        else:
            labels = self.cluster(
                train, min_clusters=min_clusters, max_clusters=max_clusters, num_clusters=num_clusters
            )
        del train

        def centroids_of(labels: np.ndarray) -> np.ndarray:
            return np.vstack(
                [flat[train_idx[labels == i]].astype(np.float64).mean(axis=0) for i in range(labels.max() + 1)]
            )

        k = int(labels.max()) + 1
        centroids = centroids_of(labels)
        unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        hard = np.full(flat.shape[0], -2, dtype=np.int16)
        # nearest centroid, in slices so the (n, k) similarity never spans the whole hearing
        for lo in range(0, flat.shape[0], 65536):
            ok = valid[lo : lo + 65536]
            part = flat[lo : lo + 65536][ok].astype(np.float32)
            sims = (part / np.linalg.norm(part, axis=1, keepdims=True)) @ unit.T
            hard[lo : lo + 65536][ok] = np.argmax(sims, axis=1)
        hard = hard.reshape(num_chunks, num_speakers, num_sub)
        if k > 1:
            self._separate_concurrent(hard, embeddings, unit)
        if k > 1 and self.merge_ratio > 0:
            keep = self._merge_one_voice(hard, unit, min_clusters)
            if keep.max() + 1 < k:  # clusters merged: centroids from their training items
                centroids = centroids_of(keep[labels])
                valid_hard = hard >= 0
                hard[valid_hard] = keep[hard[valid_hard]]
        return hard, centroids.astype(np.float32)

    def _merge_one_voice(self, hard: np.ndarray, unit: np.ndarray, min_clusters: int) -> np.ndarray:
        """Old cluster -> new cluster, merging clusters the segmentation treats as one voice.

        `same[a, b]`: (chunk, local speaker) pairs whose sub-windows went to both a and b;
        `apart[a, b]`: chunks where a and b belong to two different local speakers. The pair
        with the highest same / (apart + 1) merges while that is at least `merge_ratio` and
        their centroids are not unlike (cosine similarity above 0.3).
        """
        num_chunks, num_speakers, _ = hard.shape
        k = unit.shape[0]
        mapping = np.arange(k)
        similarity = unit @ unit.T
        while len(np.unique(mapping)) > max(min_clusters, 1):
            current = np.where(hard >= 0, mapping[np.maximum(hard, 0)], -1)
            present = np.zeros((num_chunks, num_speakers, k), dtype=np.float64)
            for q in range(current.shape[2]):
                c_idx, j_idx = np.nonzero(current[:, :, q] >= 0)
                present[c_idx, j_idx, current[c_idx, j_idx, q]] = 1.0
            flat = present.reshape(-1, k)
            same = flat.T @ flat
            apart = np.zeros((k, k))
            for a, b in itertools.permutations(range(num_speakers), 2):
                apart += present[:, a].T @ present[:, b]
            score = same / (apart + 1.0)
            roots = np.unique(mapping)
            candidates = np.full((k, k), -1.0)
            candidates[np.ix_(roots, roots)] = score[np.ix_(roots, roots)]
            np.fill_diagonal(candidates, -1.0)
            candidates[similarity <= 0.3] = -1.0
            a, b = np.unravel_index(np.argmax(candidates), candidates.shape)
            if candidates[a, b] < self.merge_ratio:
                break
            mapping[mapping == max(a, b)] = min(a, b)
            merged = mapping == min(a, b)
            center = unit[merged].mean(axis=0)
            unit = unit.copy()
            unit[merged] = center / np.linalg.norm(center)
            similarity = unit @ unit.T
        return np.unique(mapping, return_inverse=True)[1]

    @staticmethod
    def _separate_concurrent(hard: np.ndarray, embeddings: np.ndarray, unit: np.ndarray) -> None:
        """Local speakers active in the same chunk and sub-window get distinct clusters (in place)."""
        num_chunks, _, num_sub = hard.shape
        clash = np.zeros((num_chunks, num_sub), dtype=bool)
        for a in range(hard.shape[1]):
            for b in range(a + 1, hard.shape[1]):
                clash |= (hard[:, a] == hard[:, b]) & (hard[:, a] >= 0)
        for c, q in zip(*np.nonzero(clash), strict=True):
            speakers = np.flatnonzero(hard[c, :, q] >= 0)
            vectors = embeddings[c, speakers, q].astype(np.float32)
            sims = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ unit.T
            rows, cols = linear_sum_assignment(sims, maximize=True)
            for r, col in zip(rows, cols, strict=True):
                hard[c, speakers[r], q] = col
