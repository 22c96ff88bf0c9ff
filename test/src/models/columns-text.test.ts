import { releaseColumnsCase } from './columns-case.js';

// breast_cancer with two binned text columns, one-hot capped at 6 categories; no imputation.
releaseColumnsCase({
  model: 'cancer-text',
  file: 'fixtures/breast_cancer_text.csv',
  options: { categorical: 'one-hot', maxCategories: 6 },
  // No imputation in this model: a gap is refused, naming the column.
  refused: (row) => ({ ...row, texture: null }),
  refusal: /column "texture" is empty, and the model fills no gaps in it/,
  batchFrom: 'agent-dir',
});
