/** cli-table3 border characters without a rule between body rows: a table of 60 layers stays 60 lines. */
export const compactRows = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
