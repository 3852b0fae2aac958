import type { Figure } from '../figure.js';
import { balanceLossFigure } from './balance-loss.js';
import { balancednessFigure } from './balancedness.js';
import { coactivationFigure } from './coactivation.js';
import { devicesFigure } from './devices.js';
import { domainFigure } from './domain.js';
import { expertLoadFigure } from './expert-load.js';
import { groupsFigure } from './groups.js';
import { offloadingFigure } from './offloading.js';
import { plantedFigure } from './planted.js';
import { smallSampleFigure } from './small-sample.js';
import { tokenClassesFigure } from './token-classes.js';
import { tokenOverlayFigure } from './token-overlay.js';
import { tokenTablesFigure } from './token-tables.js';
import { unbiasedFigure } from './unbiased.js';

/**
 * Every figure `report` computes on a trace (figure.ts says how to add one). They start and finish in this
 * order, which is the order of their notes; SUMMARY.json's key order is layerSummaryColumns'.
 */
export const traceFigures = [expertLoadFigure, balancednessFigure, groupsFigure, balanceLossFigure, tokenTablesFigure, devicesFigure, coactivationFigure, domainFigure, offloadingFigure, unbiasedFigure, smallSampleFigure, tokenOverlayFigure, plantedFigure, tokenClassesFigure] as const;

type ResultOf<F> = F extends Figure<string, infer Result> ? Result : never;

/** Each figure's result under its name; absent where the trace lacks what the figure needs. */
export type FigureResults = { [F in (typeof traceFigures)[number] as F['name']]?: ResultOf<F> };
