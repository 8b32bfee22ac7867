"""CharNgrams is a faster sklearn char_wb TF-IDF, and must stay exactly that."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.nlp.features import CharNgrams

TEXTS = ["im bringing it tmrw", "", "lol", "a b c killing it at schoolname", "killing killing KILLING", "🔫 gun"] * 3


def test_char_ngrams_equal_sklearn_char_wb():
    ours = CharNgrams(min_df=1).fit(TEXTS)
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1, max_features=60_000,
                                sublinear_tf=True).fit(TEXTS)
    assert list(ours.get_feature_names_out()) == list(reference.get_feature_names_out())
    unseen = ["killin it tmrw", "brand new words here", ""]
    for batch in (TEXTS, unseen):
        assert np.abs(ours.transform(batch) - reference.transform(batch)).max() < 1e-6


def test_the_word_cache_is_not_persisted():
    ours = CharNgrams(min_df=1).fit(TEXTS)
    ours.transform(TEXTS)
    assert "_cache" not in ours.__getstate__()
