"""Your own files as datasets (deepnotes.data.files): tables, image folders, text; every file
it cannot read is one sentence naming the file, the line and the expected format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from deepnotes.data.files import load_image_folder, load_table, read_text_file, reload
from deepnotes.errors import ConfigError, DataMissingError


def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def pets(tmp_path, n=20, name="pets.csv"):
    """weight,height,kind: two features and a word label, cats light and dogs heavy."""
    rows = [f"{4 + i % 3},{25 + i % 5},cat" if i % 2 else f"{30 + i % 4},{60 + i % 3},dog"
            for i in range(n)]
    return write(tmp_path / name, "weight,height,kind\n" + "\n".join(rows) + "\n")


def one_sentence(exc_info, *parts):
    message = str(exc_info.value)
    assert "\n" not in message
    for part in parts:
        assert str(part) in message, message
    return message


# ----------------------------------------------------------------------------- tables
def test_word_labels_make_a_classification_table_with_a_held_out_test_split(tmp_path):
    path = pets(tmp_path)
    train, test = load_table(path), load_table(path, split="test")
    everything = load_table(path, split="all")
    assert train.task == "classification" and train.classes == ["cat", "dog"]
    assert (len(train), len(test), len(everything)) == (16, 4, 20)
    assert train.x.shape == (16, 2) and train.y.dtype == torch.int64
    # stratified: the 20% test part holds both classes, 2 of each
    assert sorted(test.y.tolist()) == [0, 0, 1, 1]
    # the split is a function of the seed: train + test rows are the whole file, in some order
    rows = {tuple(r) for r in torch.cat([train.x, test.x]).tolist()}
    assert rows == {tuple(r) for r in everything.x.tolist()}
    assert torch.equal(load_table(path, split="test").x, test.x)
    assert not torch.equal(load_table(path, split="test", seed=1).x, test.x)
    # standardised with the training part's statistics: mean 0, deviation 1 there
    assert torch.allclose(train.x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(train.x.std(0, unbiased=False), torch.ones(2), atol=1e-4)


def test_classes_follow_the_labels(tmp_path):
    path = pets(tmp_path)
    ds = load_table(path, split="all")
    raw = [line.split(",")[2] for line in path.read_text().split()[1:]]
    assert [ds.classes[i] for i in ds.y.tolist()] == raw


def test_a_real_valued_target_is_regression_in_its_own_units(tmp_path):
    lines = [f"{i}\t{i % 3}\t{1.5 * i + 0.25}" for i in range(30)]
    path = write(tmp_path / "house.tsv", "rooms\tage\tprice\n" + "\n".join(lines) + "\n")
    ds = load_table(path, split="all")
    assert ds.task == "regression" and ds.classes is None and ds.y.dtype == torch.float32
    assert ds.y.tolist() == [1.5 * i + 0.25 for i in range(30)]
    assert ds.x.shape == (30, 2)


@pytest.mark.parametrize("distinct, task", [(3, "classification"), (20, "classification"),
                                            (21, "regression")])
def test_integer_targets_are_classes_up_to_twenty_values(tmp_path, distinct, task):
    lines = [f"{i},{i % distinct}" for i in range(2 * distinct)]
    path = write(tmp_path / "ints.csv", "x,y\n" + "\n".join(lines) + "\n")
    ds = load_table(path, split="all")
    assert ds.task == task
    if task == "classification":
        assert ds.classes == [str(v) for v in range(distinct)]  # numbers in order of value


def test_task_overrides_the_inferred_one(tmp_path):
    lines = [f"{i},{i % 3}" for i in range(12)]
    path = write(tmp_path / "ints.csv", "x,y\n" + "\n".join(lines) + "\n")
    assert load_table(path, task="regression").task == "regression"
    path2 = write(tmp_path / "reals.csv", "x,y\n" + "\n".join(f"{i},{i % 2 + 0.5}"
                                                               for i in range(10)) + "\n")
    forced = load_table(path2, task="classification", split="all")
    assert forced.classes == ["0.5", "1.5"]
    with pytest.raises(ConfigError) as exc:
        load_table(pets(tmp_path), task="regression")
    one_sentence(exc, "pets.csv, line 2", "'kind'", "'dog'", "not a number")
    with pytest.raises(ConfigError, match="task must be"):
        load_table(path, task="ranking")


def test_target_names_a_column_and_quoted_fields_are_read(tmp_path):
    path = write(tmp_path / "q.csv", '"label","weight, kg",size\nbig,"2.5",3\nsmall,"1.5",1\n')
    ds = load_table(path, target="label", test_fraction=0, split="all")
    assert ds.classes == ["big", "small"] and ds.x.shape == (2, 2)
    assert ds.meta["source"]["features"] == ["weight, kg", "size"]
    with pytest.raises(ConfigError, match="no test split"):
        load_table(path, target="label", test_fraction=0, split="test")


def test_no_such_target_column_names_the_columns(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_table(pets(tmp_path), target="colour")
    one_sentence(exc, "pets.csv", "'colour'", "line 1", "weight, height, kind")


@pytest.mark.parametrize("bad, shown", [("", "missing value"), ("NA", "missing value ('NA')"),
                                        ("?", "missing value ('?')")])
def test_a_missing_value_names_file_line_and_column(tmp_path, bad, shown):
    path = write(tmp_path / "m.csv", f"a,b,y\n1,2,x\n3,{bad},y\n4,5,x\n")
    with pytest.raises(ConfigError) as exc:
        load_table(path)
    one_sentence(exc, "m.csv, line 3", "column 'b'", shown)


def test_a_missing_label_names_the_target_column(tmp_path):
    path = write(tmp_path / "m.csv", "a,b,y\n1,2,x\n3,4,\n")
    with pytest.raises(ConfigError) as exc:
        load_table(path)
    one_sentence(exc, "m.csv, line 3", "column 'y'", "missing value")


def test_a_word_in_a_feature_column_is_an_error_naming_it(tmp_path):
    path = write(tmp_path / "w.csv", "size,colour,y\n1,2,a\n2,red,b\n")
    with pytest.raises(ConfigError) as exc:
        load_table(path)
    one_sentence(exc, "w.csv, line 3", "column 'colour'", "'red'", "not a number",
                 "one 0/1 column per category")


def test_a_line_with_too_few_values_is_named(tmp_path):
    path = write(tmp_path / "short.tsv", "a\tb\ty\n1\t2\tx\n\n3\t4\n")
    with pytest.raises(ConfigError) as exc:
        load_table(path)
    one_sentence(exc, "short.tsv, line 4 has 2 values", "line 1 names 3 columns", "tabs")


def test_a_header_of_numbers_and_other_bad_files(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_table(write(tmp_path / "h.csv", "1,2,3\n4,5,6\n"))
    one_sentence(exc, "h.csv, line 1 should name the columns")
    with pytest.raises(ConfigError) as exc:
        load_table(write(tmp_path / "e.csv", "\n\n"))
    one_sentence(exc, "e.csv is empty")
    with pytest.raises(ConfigError) as exc:
        load_table(write(tmp_path / "only.csv", "a,y\n"))
    one_sentence(exc, "only.csv has a header line but no examples")
    with pytest.raises(ConfigError) as exc:
        load_table(write(tmp_path / "two.csv", "a,y\n1,x\n2,y\n"))
    one_sentence(exc, "two.csv holds 2 examples", "test_fraction")
    with pytest.raises(ConfigError) as exc:
        load_table(write(tmp_path / "dup.csv", "a,a,y\n1,2,x\n"))
    one_sentence(exc, "dup.csv, line 1 names two columns 'a'")
    (tmp_path / "latin.csv").write_bytes(b"a,y\n1,x\n2,caf\xe9\n")
    with pytest.raises(ConfigError) as exc:
        load_table(tmp_path / "latin.csv")
    one_sentence(exc, "latin.csv, line 3 is not UTF-8")
    with pytest.raises(DataMissingError) as exc:
        load_table(tmp_path / "nothing.csv")
    one_sentence(exc, "nothing.csv is missing", "CSV or TSV")


def test_reload_reads_the_same_split_and_another_file_of_the_same_layout(tmp_path):
    train = load_table(pets(tmp_path))
    source = train.meta["source"]
    test = load_table(pets(tmp_path), split="test")
    again = reload(source, "test")
    assert torch.equal(again.x, test.x) and torch.equal(again.y, test.y)
    # another file: columns in another order, one class only, scaled with the training stats
    new = write(tmp_path / "new.csv", "kind,height,weight,extra\ndog,60,30,9\ncat,25,4,9\n"
                                      "dog,61,31,9\n")
    ds = reload(source, "all", path=new)
    assert ds.classes == ["cat", "dog"] and ds.y.tolist() == [1, 0, 1]
    mean, std = np.array(source["mean"]), np.array(source["std"])
    assert np.allclose(ds.x[0].numpy(), (np.array([30, 60]) - mean) / std, atol=1e-5)
    bad = write(tmp_path / "bad.csv", "weight,height,kind\n4,25,cat\n5,26,bird\n")
    with pytest.raises(ConfigError) as exc:
        reload(source, "all", path=bad)
    one_sentence(exc, "bad.csv, line 3", "'bird'", "not trained on", "cat, dog")
    with pytest.raises(ConfigError) as exc:
        reload(source, "all", path=write(tmp_path / "lack.csv", "weight,kind\n4,cat\n"))
    one_sentence(exc, "lack.csv lacks the column 'height'")


def test_read_text_file(tmp_path):
    assert read_text_file(write(tmp_path / "t.txt", "héllo\nworld")) == "héllo\nworld"
    with pytest.raises(ConfigError) as exc:
        read_text_file(write(tmp_path / "blank.txt", " \n"))
    one_sentence(exc, "blank.txt is empty")
    (tmp_path / "bin.txt").write_bytes(b"ok\nok\n\xff\xfe")
    with pytest.raises(ConfigError) as exc:
        read_text_file(tmp_path / "bin.txt")
    one_sentence(exc, "bin.txt, line 3 is not UTF-8")
    with pytest.raises(DataMissingError):
        read_text_file(tmp_path / "none.txt")


# ----------------------------------------------------------------------------- images
def image_folder(root, classes=("dark", "light"), per_class=5, size=(6, 4), mode="L", seed=0):
    """PNG files root/CLASS/i.png; returns {path: uint8 pixels}."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
            arr = (rng.integers(0, 100, shape) + 120 * c).astype(np.uint8)
            path = root / name / f"{i}.png"
            Image.fromarray(arr, mode=mode).save(path)
            pixels[path] = arr
    return pixels


def test_a_grey_image_folder_gives_pixels_over_255_and_class_indices(tmp_path):
    pixels = image_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "dark" / "notes.txt").write_text("not an image: skipped")
    ds = load_image_folder(tmp_path / "imgs", split="all")
    assert ds.classes == ["dark", "light"] and ds.x.shape == (10, 1, 4, 6)
    assert ds.y.tolist() == [0] * 5 + [1] * 5
    first = pixels[tmp_path / "imgs" / "dark" / "0.png"]
    assert torch.allclose(ds.x[0, 0], torch.from_numpy(first.astype(np.float32) / 255))
    train, test = load_image_folder(tmp_path / "imgs"), load_image_folder(tmp_path / "imgs",
                                                                          split="test")
    assert (len(train), len(test)) == (8, 2) and sorted(test.y.tolist()) == [0, 1]


def test_rgb_and_mixed_folders_have_three_channels(tmp_path):
    image_folder(tmp_path / "rgb", mode="RGB")
    assert load_image_folder(tmp_path / "rgb").x.shape[1:] == (3, 4, 6)
    image_folder(tmp_path / "mixed", classes=("a",), mode="RGB")
    pixels = image_folder(tmp_path / "mixed", classes=("b",), mode="L")
    ds = load_image_folder(tmp_path / "mixed", split="all")
    grey = torch.from_numpy(pixels[tmp_path / "mixed" / "b" / "0.png"].astype(np.float32) / 255)
    assert ds.x.shape[1] == 3 and all(torch.allclose(ds.x[5, c], grey) for c in range(3))


def test_jpeg_files_of_any_suffix_case_are_read(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(3):
            colour = (200, 30 * i, 0) if name == "a" else (0, 30 * i, 200)
            Image.new("RGB", (8, 8), colour).save(tmp_path / "photos" / name / f"{i}.JPG")
    ds = load_image_folder(tmp_path / "photos", split="all", test_fraction=0.4)
    assert ds.x.shape == (6, 3, 8, 8)
    # red photos in class a, blue in class b (JPEG is lossy: compare the mean colours)
    red, blue = ds.x[:, 0].mean(dim=(1, 2)), ds.x[:, 2].mean(dim=(1, 2))
    assert ((red > blue) == (ds.y == 0)).all()


def test_mixed_sizes_are_an_error_unless_resized(tmp_path):
    image_folder(tmp_path / "imgs", classes=("a",), size=(6, 4))
    image_folder(tmp_path / "imgs", classes=("b",), size=(8, 8))
    with pytest.raises(ConfigError) as exc:
        load_image_folder(tmp_path / "imgs")
    one_sentence(exc, "b/0.png is 8x8 pixels", "a/0.png is 6x4", "image_size=N")
    ds = load_image_folder(tmp_path / "imgs", image_size=5, split="all")
    assert ds.x.shape == (10, 1, 5, 5) and ds.meta["source"]["image_size"] == 5


def test_bad_image_folders_are_one_sentence(tmp_path):
    with pytest.raises(DataMissingError) as exc:
        load_image_folder(tmp_path / "none")
    one_sentence(exc, "none is missing", "one subfolder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as exc:
        load_image_folder(tmp_path / "empty")
    one_sentence(exc, "empty has no class subfolders")
    image_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(ConfigError) as exc:
        load_image_folder(tmp_path / "one")
    one_sentence(exc, "one has one class folder (only)", "at least two")
    image_folder(tmp_path / "hole")
    (tmp_path / "hole" / "zebra").mkdir()
    with pytest.raises(ConfigError) as exc:
        load_image_folder(tmp_path / "hole")
    one_sentence(exc, "zebra holds no PNG or JPEG images")
    image_folder(tmp_path / "loose")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "loose" / "stray.png")
    with pytest.raises(ConfigError) as exc:
        load_image_folder(tmp_path / "loose")
    one_sentence(exc, "stray.png lies directly in", "subfolder named after the class")
    image_folder(tmp_path / "broken")
    (tmp_path / "broken" / "dark" / "9.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError) as exc:
        load_image_folder(tmp_path / "broken")
    one_sentence(exc, "9.png is not a readable PNG or JPEG image")


def test_reload_of_an_image_folder_keeps_the_classes_and_the_shape(tmp_path):
    image_folder(tmp_path / "imgs")
    ds = load_image_folder(tmp_path / "imgs")
    again = reload(ds.meta["source"], "test")
    assert torch.equal(again.x, load_image_folder(tmp_path / "imgs", split="test").x)
    image_folder(tmp_path / "new", classes=("light",), per_class=2)
    new = reload(ds.meta["source"], "all", path=tmp_path / "new")
    assert new.classes == ["dark", "light"] and new.y.tolist() == [1, 1]
    image_folder(tmp_path / "other", classes=("light",), size=(5, 5))
    with pytest.raises(ConfigError) as exc:
        reload(ds.meta["source"], "all", path=tmp_path / "other")
    one_sentence(exc, "0.png is 5x5 pixels but the model's images are 6x4")
    image_folder(tmp_path / "zoo", classes=("lion",))
    with pytest.raises(ConfigError) as exc:
        reload(ds.meta["source"], "all", path=tmp_path / "zoo")
    one_sentence(exc, "lion is a class the model was not trained on")
