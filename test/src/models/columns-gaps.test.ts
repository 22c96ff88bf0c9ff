import { releaseColumnsCase } from './columns-case.js';

// breast_cancer with blanked and NA cells in six columns, filled with training-split medians.
releaseColumnsCase({
  model: 'cancer-gaps',
  file: 'fixtures/breast_cancer_gaps.csv',
  options: { impute: 'median' },
  refused: (row) => ({ ...row, area_mean: 'large' }),
  refusal: /column "area_mean" holds "large", not a number/,
  batchFrom: 'model',
});
