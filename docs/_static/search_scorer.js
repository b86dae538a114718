// Search ranking of the documentation (Sphinx's html_search_scorer).
//
// Sphinx ranks the objects of the API reference first, because a query matches their
// names: a search for "lock" or "retry" would list attributes and parameters before
// the guides that explain locks and retries. A reader who searches a word wants the
// explanation first, then the reference, so the guides get a boost.
var Scorer = {
  score: (result) => {
    const [docname, , , , score] = result;
    if (docname.startsWith("howto/") || docname.startsWith("tutorial/")) {
      return score + 30;
    }
    if (docname === "quickstart" || docname === "discussions") {
      return score + 10;
    }
    return score;
  },

  // Sphinx's defaults.
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
