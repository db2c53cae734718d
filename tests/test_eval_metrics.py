"""Metrics against confusion matrices worked out by hand."""
import numpy as np
import pytest
import torch

from crossmodal.eval.metrics import (
    ConfusionAccumulator,
    classification_scores,
    confusion_matrix,
    segmentation_scores,
)


def test_confusion_matrix_counts_target_rows_prediction_columns_and_skips_ignore():
    targets = np.array([0, 0, 1, 1, 2, 255, 255])
    predictions = np.array([0, 1, 1, 1, 0, 2, 0])
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(confusion_matrix(predictions, targets, 3), expected)


def test_accumulator_equals_one_matrix_over_all_pixels():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, size=(3, 5, 6))
    targets[0, 0, :] = 255
    predictions = rng.integers(0, 4, size=(3, 5, 6))
    accumulator = ConfusionAccumulator(4)
    for t, p in zip(targets, predictions):
        accumulator.update(torch.from_numpy(p), torch.from_numpy(t))
    np.testing.assert_array_equal(accumulator.matrix, confusion_matrix(predictions, targets, 4))


def test_out_of_range_target_is_an_error():
    with pytest.raises(ValueError, match=r"target ids must lie in \[0, 3\) or equal 255"):
        confusion_matrix(np.array([0]), np.array([3]), 3)


def test_segmentation_scores_by_hand():
    # rows = ground truth, columns = prediction
    confusion = np.array([[3, 1, 0], [2, 4, 0], [0, 0, 0]])  # class 2 absent from GT and never predicted
    scores = segmentation_scores(confusion)
    assert scores["pixel_accuracy"] == pytest.approx(7 / 10)
    assert scores["mean_class_accuracy"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    # IoU_0 = 3 / (4 + 5 - 3), IoU_1 = 4 / (6 + 5 - 4)
    assert scores["per_class_iou"][:2] == pytest.approx([3 / 6, 4 / 7])
    assert scores["per_class_iou"][2] is None
    assert scores["miou"] == pytest.approx((3 / 6 + 4 / 7) / 2)
    assert scores["classes_present"] == 2


def test_class_absent_from_ground_truth_but_predicted_is_excluded_from_means():
    # class 2 never occurs in GT but swallows pixels of class 1: those count against class 1 only
    confusion = np.array([[5, 0, 0], [0, 2, 3], [0, 0, 0]])
    scores = segmentation_scores(confusion)
    assert scores["per_class_iou"] == [1.0, pytest.approx(2 / 5), None]
    assert scores["miou"] == pytest.approx((1.0 + 2 / 5) / 2)
    assert scores["mean_class_accuracy"] == pytest.approx((1.0 + 2 / 5) / 2)


def test_ignore_pixels_change_no_score():
    targets = np.array([[0, 1], [1, 255]])
    predictions_a = np.array([[0, 1], [0, 0]])
    predictions_b = np.array([[0, 1], [0, 1]])  # differs only on the ignored pixel
    scores_a = segmentation_scores(confusion_matrix(predictions_a, targets, 2))
    scores_b = segmentation_scores(confusion_matrix(predictions_b, targets, 2))
    assert scores_a == scores_b
    assert scores_a["labelled_pixels"] == 3
    assert scores_a["pixel_accuracy"] == pytest.approx(2 / 3)
    # IoU_0 = 1 / (1 + 2 - 1), IoU_1 = 1 / (2 + 1 - 1)
    assert scores_a["miou"] == pytest.approx(0.5)


def test_classification_scores_by_hand():
    confusion = np.array([[2, 0, 0], [1, 1, 0], [0, 0, 0]])
    scores = classification_scores(confusion)
    assert scores["top1"] == pytest.approx(3 / 4)
    assert scores["per_class_accuracy"] == [1.0, 0.5, None]
    assert scores["mean_class_accuracy"] == pytest.approx(0.75)
    assert scores["support"] == [2, 2, 0]


def test_predicted_ids_outside_the_classes_are_an_error_with_their_range():
    assert confusion_matrix(np.array([0, 2]), np.array([1, 2]), num_classes=3).sum() == 2  # the edges are fine
    for bad in (3, -1):
        with pytest.raises(ValueError, match=r"^predicted ids must lie in \[0, 3\)$"):
            confusion_matrix(np.array([0, bad]), np.array([1, 2]), num_classes=3)
    with pytest.raises(ValueError, match=r"^target ids must lie in \[0, 3\) or equal 255$"):
        confusion_matrix(np.array([0, 1]), np.array([1, 3]), num_classes=3)
    with pytest.raises(ValueError, match=r"^predictions \(3\) and targets \(2\) differ in size$"):
        confusion_matrix(np.array([0, 1, 2]), np.array([1, 2]), num_classes=3)


def test_an_accumulator_keeps_integer_counts_and_its_own_ignore_index():
    accumulator = ConfusionAccumulator(num_classes=2, ignore_index=7)
    assert accumulator.matrix.dtype == np.int64 and accumulator.matrix.sum() == 0
    accumulator.update(np.array([0, 1, 1]), np.array([0, 7, 1]))
    accumulator.update(torch.tensor([1]), torch.tensor([0]))
    assert accumulator.matrix.dtype == np.int64 and accumulator.matrix.tolist() == [[1, 1], [0, 1]]


def test_a_class_with_one_sample_is_scored_and_empty_matrices_score_zero():
    confusion = np.array([[1, 0], [1, 3]])  # class 0 has a single sample
    classification, segmentation = classification_scores(confusion), segmentation_scores(confusion)
    assert classification["per_class_accuracy"] == [1.0, 0.75] and classification["mean_class_accuracy"] == 0.875
    assert segmentation["per_class_accuracy"] == [1.0, 0.75] and segmentation["classes_present"] == 2
    assert segmentation["per_class_iou"] == [0.5, 0.75] and segmentation["miou"] == 0.625
    empty = np.zeros((2, 2), dtype=np.int64)
    assert (classification_scores(empty)["top1"], classification_scores(empty)["mean_class_accuracy"]) == (0.0, 0.0)
    scores = segmentation_scores(empty)
    assert (scores["pixel_accuracy"], scores["mean_class_accuracy"], scores["miou"], scores["labelled_pixels"]) == (0.0, 0.0, 0.0, 0)
    assert classification_scores([[2, 1], [0, 1]])["confusion"] == [[2, 1], [0, 1]]  # lists are taken as matrices too
    assert segmentation_scores([[2, 1], [0, 1]])["pixel_accuracy"] == 0.75


def test_chance_is_the_most_frequent_class_and_uniform_guessing():
    from crossmodal.eval.metrics import chance_line, chance_scores

    confusion = np.array([[6, 0, 0], [2, 1, 0], [0, 0, 1], [0, 0, 0]])  # rows: truth; class 3 never occurs
    assert chance_scores(confusion) == pytest.approx({"top1": 0.6, "mean_class_accuracy": 1 / 3, "miou": 0.2})
    assert chance_line(confusion, {"top1": "top-1", "miou": "mIoU"}).startswith("chance: top-1 60.0%, mIoU 20.0% (")
