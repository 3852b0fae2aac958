/**
 * The assignment problem: given a square cost matrix, a permutation `assignment` (row i takes column
 * assignment[i]) with the smallest total cost. Solved by the Hungarian method (Kuhn-Munkres with row and
 * column potentials, O(n^3)). Among assignments of equal cost the lexicographically smallest is returned
 * (row 0's column as low as possible, then row 1's, ...), so a tie goes to the lower index.
 */
export function minimumCostAssignment(cost: number[][]): { assignment: number[]; total: number } {
  const n = cost.length;
  cost.forEach((row, i) => {
    if (row.length !== n) throw new RangeError(`minimumCostAssignment: row ${i} has ${row.length} costs, expected ${n} (a square matrix)`);
  });
  const optimum = hungarianTotal(cost);
  // Fix rows one at a time to the lowest column that still allows the optimum.
  const assignment: number[] = [];
  const freeColumns = Array.from({ length: n }, (_, j) => j);
  let fixedCost = 0;
  for (let i = 0; i < n; i++) {
    const restRows = Array.from({ length: n - i - 1 }, (_, r) => i + 1 + r);
    for (const j of freeColumns) {
      const restColumns = freeColumns.filter((c) => c !== j);
      const rest = hungarianTotal(restRows.map((r) => restColumns.map((c) => cost[r][c])));
      if (nearlyEqual(fixedCost + cost[i][j] + rest, optimum)) {
        assignment.push(j);
        fixedCost += cost[i][j];
        freeColumns.splice(freeColumns.indexOf(j), 1);
        break;
      }
    }
  }
  return { assignment, total: optimum };
}

function nearlyEqual(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** The smallest total cost of an assignment (0 for an empty matrix): the classic potentials formulation. */
function hungarianTotal(cost: number[][]): number {
  const n = cost.length;
  if (n === 0) return 0;
  // 1-based: column 0 is a virtual column that holds the row being inserted.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const rowOfColumn = new Int32Array(n + 1);
  const way = new Int32Array(n + 1);
  for (let row = 1; row <= n; row++) {
    rowOfColumn[0] = row;
    let column0 = 0;
    const minSlack = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[column0] = 1;
      const row0 = rowOfColumn[column0];
      let delta = Infinity;
      let column1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const slack = cost[row0 - 1][j - 1] - u[row0] - v[j];
        if (slack < minSlack[j]) [minSlack[j], way[j]] = [slack, column0];
        if (minSlack[j] < delta) [delta, column1] = [minSlack[j], j];
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[rowOfColumn[j]] += delta;
          v[j] -= delta;
        } else {
          minSlack[j] -= delta;
        }
      }
      column0 = column1;
    } while (rowOfColumn[column0] !== 0);
    do {
      const column1 = way[column0];
      rowOfColumn[column0] = rowOfColumn[column1];
      column0 = column1;
    } while (column0 !== 0);
  }
  let total = 0;
  for (let j = 1; j <= n; j++) total += cost[rowOfColumn[j] - 1][j - 1];
  return total;
}
