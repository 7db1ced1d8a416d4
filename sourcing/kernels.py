"""Compiled kernels of the sourcing package (arrays, scalars and integer codes only).

- ``gap_greedy_1d_nb``: regret greedy for single-pool options under one desirability measure.
- ``gap_local_search_nb``: shift and swap moves that keep capacity and lower cost.
- ``gap_heuristic_nb``: several greedy measures + local search; the best feasible answer.
- ``source_order_nb``: score the candidate (node, date) options of one order (see realtime).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from promising.enums import EPS
from promising.kernels import available_at_1d_nb, earliest_1d_nb
from sourcing.enums import DATE_ARRIVAL, Objective


@njit(cache=True, nogil=True)
def gap_greedy_1d_nb(o_ptr, opt_cost, opt_pool, opt_amt, capacity, measure):
    """Regret greedy over options grouped per order (CSR ``o_ptr``); each option uses one pool.

    measure 0: cost; 1: usage / capacity; 2: cost * usage / capacity.  Orders whose two best
    desirabilities differ most go first, each to its most desirable option that still fits.
    Returns option per order (-1 where nothing fits).
    """
    n = len(o_ptr) - 1
    left = capacity.copy()
    out = np.full(n, -1, np.int64)
    done = np.zeros(n, np.bool_)
    for _ in range(n):
        best_j = -1
        best_regret = -np.inf
        best_k = -1
        for j in range(n):
            if done[j]:
                continue
            d1 = np.inf
            d2 = np.inf
            k1 = -1
            for k in range(o_ptr[j], o_ptr[j + 1]):
                p = opt_pool[k]
                if opt_amt[k] > left[p] + EPS:
                    continue
                if measure == 0:
                    d = opt_cost[k]
                elif measure == 1:
                    d = opt_amt[k] / max(capacity[p], EPS)
                else:
                    d = opt_cost[k] * opt_amt[k] / max(capacity[p], EPS)
                if d < d1:
                    d2 = d1
                    d1 = d
                    k1 = k
                elif d < d2:
                    d2 = d
            if k1 < 0:
                regret = np.inf  # nothing fits: decide now (it stays unassigned)
            else:
                regret = d2 - d1
            if regret > best_regret:
                best_regret = regret
                best_j = j
                best_k = k1
        done[best_j] = True
        if best_k >= 0:
            out[best_j] = best_k
            left[opt_pool[best_k]] -= opt_amt[best_k]
    return out


@njit(cache=True, nogil=True)
def gap_local_search_nb(o_ptr, opt_order, opt_cost, opt_pool, opt_amt, capacity, assign, max_passes):
    """Improve a full feasible assignment in place by shift and swap moves; returns its cost."""
    n = len(o_ptr) - 1
    m = len(capacity)
    left = capacity.copy()
    for j in range(n):
        k = assign[j]
        left[opt_pool[k]] -= opt_amt[k]
    # option of order j at pool p (single-pool options), -1 if none
    at = np.full((n, m), -1, np.int64)
    for j in range(n):
        for k in range(o_ptr[j], o_ptr[j + 1]):
            at[j, opt_pool[k]] = k
    for _ in range(max_passes):
        improved = False
        # shift: move one order to a cheaper option that fits
        for j in range(n):
            k0 = assign[j]
            best = k0
            for k in range(o_ptr[j], o_ptr[j + 1]):
                if opt_cost[k] < opt_cost[best] - EPS and opt_amt[k] <= left[opt_pool[k]] + EPS:
                    best = k
            if best != k0:
                left[opt_pool[k0]] += opt_amt[k0]
                left[opt_pool[best]] -= opt_amt[best]
                assign[j] = best
                improved = True
        # swap: two orders exchange pools
        for j1 in range(n):
            for j2 in range(j1 + 1, n):
                a1 = assign[j1]
                a2 = assign[j2]
                p1 = opt_pool[a1]
                p2 = opt_pool[a2]
                if p1 == p2:
                    continue
                b1 = at[j1, p2]
                b2 = at[j2, p1]
                if b1 < 0 or b2 < 0:
                    continue
                delta = opt_cost[b1] + opt_cost[b2] - opt_cost[a1] - opt_cost[a2]
                if delta >= -EPS:
                    continue
                if left[p1] + opt_amt[a1] - opt_amt[b2] < -EPS or left[p2] + opt_amt[a2] - opt_amt[b1] < -EPS:
                    continue
                left[p1] += opt_amt[a1] - opt_amt[b2]
                left[p2] += opt_amt[a2] - opt_amt[b1]
                assign[j1] = b1
                assign[j2] = b2
                improved = True
        if not improved:
            break
    total = 0.0
    for j in range(n):
        total += opt_cost[assign[j]]
    return total


@njit(cache=True, nogil=True)
def gap_heuristic_nb(o_ptr, opt_order, opt_cost, opt_pool, opt_amt, capacity, max_passes):
    """Best feasible answer of the greedy measures after local search (-1s if none is feasible)."""
    n = len(o_ptr) - 1
    best = np.full(n, -1, np.int64)
    best_cost = np.inf
    for measure in range(3):
        a = gap_greedy_1d_nb(o_ptr, opt_cost, opt_pool, opt_amt, capacity, measure)
        if n > 0 and a.min() < 0:
            continue
        c = gap_local_search_nb(o_ptr, opt_order, opt_cost, opt_pool, opt_amt, capacity, a, max_passes)
        if c < best_cost:
            best_cost = c
            best = a
    return best


# --------------------------------------------------------------------------------------
# Real-time sourcing of one order
# --------------------------------------------------------------------------------------
_NO_CAL = np.ones(0, np.bool_)



@njit(cache=True, nogil=True)
def zone_nodes_nb(rule_ptr, rule_loc, zone, out_node):
    """Distinct candidate nodes of a zone in rank order; returns their count."""
    k = 0
    for r in range(rule_ptr[zone], rule_ptr[zone + 1]):
        loc = rule_loc[r]
        dup = False
        for j in range(k):
            if out_node[j] == loc:
                dup = True
                break
        if not dup:
            out_node[k] = loc
            k += 1
    return k


@njit(cache=True, nogil=True)
def candidates_nb(cum, il_lt, cal_open, loc_cal, il_keys, nloc, item_cat,
                  rule_ptr, rule_loc, rule_rank, rule_item, rule_cat,
                  lane_transit, lane_cpu, lane_cps, zone,
                  line_item, line_qty, line_need, line_req, date_kind, max_late, nodes, n_nodes,
                  out_rank, out_il, out_transit, out_start, out_last, out_early, out_early_any, out_avail, out_cost):
    """Evaluate every (line, candidate node) of one order against the ATP kernels.

    line_need[i]: quantity the ATP check asks for (the line's quantity plus earlier lines of
    the same item, so that two lines never count the same units). date_kind 0: requested
    dates are arrival dates, 1: ship dates. For each pair (i, k): the best rule rank matching
    the item or its category (-1: no rule, not a candidate), the item-location (-1: not
    stocked), transit days, first and last ship bucket of the window, the earliest open ship
    bucket with the whole quantity inside the window (-1: none) and anywhere in the horizon,
    the quantity available at the window's end, and the landed cost of the line alone.
    """
    H = cum.shape[1]
    L = line_item.shape[0]
    for i in range(L):
        it = line_item[i]
        ct = item_cat[it]
        for k in range(n_nodes):
            loc = nodes[k]
            best = -1
            for r in range(rule_ptr[zone], rule_ptr[zone + 1]):
                if rule_loc[r] != loc:
                    continue
                ri = rule_item[r]
                rc = rule_cat[r]
                if (ri == it) or (ri < 0 and (rc < 0 or rc == ct)):
                    if best < 0 or rule_rank[r] < best:
                        best = rule_rank[r]
            out_rank[i, k] = best
            tr = lane_transit[zone, loc]
            out_transit[i, k] = tr
            out_cost[i, k] = line_qty[i] * lane_cpu[zone, loc] + lane_cps[zone, loc]
            out_il[i, k] = -1
            out_early[i, k] = -1
            out_early_any[i, k] = -1
            out_avail[i, k] = 0.0
            out_start[i, k] = 0
            out_last[i, k] = -1
            if best < 0:
                continue
            key = np.int64(it) * nloc + loc
            pos = np.searchsorted(il_keys, key)
            if pos >= il_keys.shape[0] or il_keys[pos] != key:
                continue
            il = pos
            out_il[i, k] = il
            nominal = line_req[i] - tr if date_kind == DATE_ARRIVAL else line_req[i]
            start = nominal if nominal > 0 else 0
            if start >= H:
                continue
            last = H - 1 if max_late < 0 else min(H - 1, nominal + max_late)
            out_start[i, k] = start
            out_last[i, k] = last
            c = loc_cal[loc]
            cal = cal_open[c] if c >= 0 else _NO_CAL
            e = earliest_1d_nb(cum[il], il_lt[il], cal, line_need[i], start)
            out_early_any[i, k] = e
            if e >= 0 and e <= last:
                out_early[i, k] = e
            if last >= start:
                a = available_at_1d_nb(cum[il], il_lt[il], last)
                out_avail[i, k] = a if a < 1e300 else line_need[i]


@njit(cache=True, nogil=True)
def _better(a0, a1, a2, b0, b1, b2):
    """Lexicographic a < b with a tolerance."""
    if a0 < b0 - EPS:
        return True
    if a0 > b0 + EPS:
        return False
    if a1 < b1 - EPS:
        return True
    if a1 > b1 + EPS:
        return False
    return a2 < b2 - EPS


@njit(cache=True, nogil=True)
def order_dp_nb(unit_ptr, unit_lines, line_qty, line_req, line_aset, date_kind, objective, max_ship, target,
                early, last, transit, cpu, cps, node_cal_code, cal_open, n_nodes,
                out_unit_node, out_unit_date, out_score):
    """Choose one node and ship date per unit (a line, or the lines of a ship set) for one order.

    A shipment is (node, set of units): every line in it ships on one date, the latest of
    their earliest ship dates at that node (inside each line's window). Lines of the arrival
    set (line_aset) must arrive exactly on `target` (>= 0), i.e. ship on target - transit.
    Dynamic programming over subsets of units picks the shipments that cover the most lines,
    then minimise the objective's lexicographic score:
      earliest: (sum of arrival days, days late, cost)
      cheapest: (days late, cost, sum of arrival days)
      profit:   (cost, days late, sum of arrival days)   margin = price - cost - shipping
      fewest:   (shipments, days late, cost)
    with at most max_ship shipments. Units left unserved get node -1. Returns lines served.
    """
    U = unit_ptr.shape[0] - 1
    M = 1 << U
    INF = np.inf
    # best node and score for each (subset S of units) shipped together
    s_node = np.full(M, -1, np.int64)
    s_date = np.full(M, -1, np.int64)
    s_sc = np.full((M, 3), INF)
    for S in range(1, M):
        for k in range(n_nodes):
            date = -1
            ok = True
            has_aset = False
            for u in range(U):
                if not (S >> u) & 1:
                    continue
                for p in range(unit_ptr[u], unit_ptr[u + 1]):
                    i = unit_lines[p]
                    e = early[i, k]
                    if e < 0:
                        ok = False
                        break
                    if e > date:
                        date = e
                    if line_aset[i]:
                        has_aset = True
                if not ok:
                    break
            if not ok:
                continue
            if has_aset:
                forced = target - transit[k]
                if forced < date or forced >= cal_open.shape[1]:
                    continue
                c = node_cal_code[k]
                if c >= 0 and not cal_open[c, forced]:
                    continue
                date = forced
            # window, arrival, lateness, cost
            arr_sum = 0.0
            late_sum = 0.0
            cost = cps[k]
            for u in range(U):
                if not (S >> u) & 1:
                    continue
                for p in range(unit_ptr[u], unit_ptr[u + 1]):
                    i = unit_lines[p]
                    if date > last[i, k]:
                        ok = False
                        break
                    arr = date + transit[k]
                    arr_sum += arr
                    due = arr if date_kind == DATE_ARRIVAL else date
                    if due > line_req[i]:
                        late_sum += due - line_req[i]
                    cost += line_qty[i] * cpu[k]
                if not ok:
                    break
            if not ok:
                continue
            if objective == Objective.EARLIEST:
                a0, a1, a2 = arr_sum, late_sum, cost
            elif objective == Objective.CHEAPEST:
                a0, a1, a2 = late_sum, cost, arr_sum
            elif objective == Objective.PROFIT:
                a0, a1, a2 = cost, late_sum, arr_sum
            else:
                a0, a1, a2 = 1.0, late_sum, cost
            if _better(a0, a1, a2, s_sc[S, 0], s_sc[S, 1], s_sc[S, 2]):
                s_sc[S, 0] = a0
                s_sc[S, 1] = a1
                s_sc[S, 2] = a2
                s_node[S] = k
                s_date[S] = date
    # lines per subset
    n_lines_u = np.empty(U, np.int64)
    for u in range(U):
        n_lines_u[u] = unit_ptr[u + 1] - unit_ptr[u]
    # DP over (covered-or-skipped mask, shipments used); units may be skipped (left unserved)
    S_MAX = max_ship if max_ship < U else U
    dp = np.full((M, S_MAX + 1, 3), INF)
    served = np.full((M, S_MAX + 1), -1, np.int64)
    par_mask = np.full((M, S_MAX + 1), -1, np.int64)
    par_ship = np.full((M, S_MAX + 1), -1, np.int64)
    dp[0, 0, 0] = 0.0
    dp[0, 0, 1] = 0.0
    dp[0, 0, 2] = 0.0
    served[0, 0] = 0
    full = M - 1
    for mask in range(M):
        for s in range(S_MAX + 1):
            if served[mask, s] < 0:
                continue
            if mask == full:
                continue
            u = 0
            while (mask >> u) & 1:
                u += 1
            rest = full & ~mask
            # option 1: leave unit u unserved
            nm = mask | (1 << u)
            # np.int64(-1), not -1: a literal would compile _take a second time (same value, same result)
            if _take(dp, served, par_mask, par_ship, mask, s, nm, s, served[mask, s], dp[mask, s, 0], dp[mask, s, 1],
                     dp[mask, s, 2], np.int64(-1)):
                pass
            if s == S_MAX:
                continue
            # option 2: a shipment covering u and any other units still open
            sub = rest
            while sub > 0:
                if (sub >> u) & 1 and s_node[sub] >= 0:
                    nl = served[mask, s]
                    for v in range(U):
                        if (sub >> v) & 1:
                            nl += n_lines_u[v]
                    _take(dp, served, par_mask, par_ship, mask, s, mask | sub, s + 1, nl,
                          dp[mask, s, 0] + s_sc[sub, 0], dp[mask, s, 1] + s_sc[sub, 1], dp[mask, s, 2] + s_sc[sub, 2], sub)
                sub = (sub - 1) & rest
    # best final state: most lines, then score
    bs = -1
    for s in range(S_MAX + 1):
        if served[full, s] < 0:
            continue
        if bs < 0 or served[full, s] > served[full, bs] or (
                served[full, s] == served[full, bs] and _better(dp[full, s, 0], dp[full, s, 1], dp[full, s, 2], dp[full, bs, 0], dp[full, bs, 1], dp[full, bs, 2])):
            bs = s
    for u in range(U):
        out_unit_node[u] = -1
        out_unit_date[u] = -1
    out_score[0] = dp[full, bs, 0]
    out_score[1] = dp[full, bs, 1]
    out_score[2] = dp[full, bs, 2]
    mask = full
    s = bs
    while mask != 0:
        pm = par_mask[mask, s]
        sub = par_ship[mask, s]
        if sub > 0:
            for u in range(U):
                if (sub >> u) & 1:
                    out_unit_node[u] = s_node[sub]
                    out_unit_date[u] = s_date[sub]
            s -= 1
        mask = pm
    return served[full, bs]


@njit(cache=True, nogil=True)
def _take(dp, served, par_mask, par_ship, mask, s, nm, ns, nl, a0, a1, a2, sub):
    cur = served[nm, ns]
    if cur < 0 or nl > cur or (nl == cur and _better(a0, a1, a2, dp[nm, ns, 0], dp[nm, ns, 1], dp[nm, ns, 2])):
        served[nm, ns] = nl
        dp[nm, ns, 0] = a0
        dp[nm, ns, 1] = a1
        dp[nm, ns, 2] = a2
        par_mask[nm, ns] = mask
        par_ship[nm, ns] = sub
        return True
    return False


# --------------------------------------------------------------------------------------
# Batch optimizer: options and availability pools for many orders
# --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def batch_options_nb(cum, il_lt, cal_open, loc_cal, il_keys, nloc, item_cat,
                     rule_ptr, rule_loc, rule_rank, rule_item, rule_cat,
                     lane_transit, lane_cpu, lane_cps, zn_ptr, zn_node,
                     ord_ptr, ord_zone, line_item, line_qty, line_req, line_unit,
                     date_kind, max_late, late_weight, max_opt,
                     out_unit, out_node, out_bucket, out_transit, out_late, out_ship, out_score,
                     out_ol_ptr, out_ol_il, out_ol_line):
    """Candidate options of every unit of every order (lines sorted by order, then unit).

    For each unit (a line or a ship set), at each candidate node of the order's zone where
    every line has its whole quantity inside its window: ship on the latest of the lines'
    earliest ship buckets.  Keeps the `max_opt` options of lowest score (late days x qty x
    late_weight + shipping per unit + cost per shipment).  Writes options and, per option,
    the (item-location, line) pairs it draws on (CSR).  Returns (n_options, n_pairs).
    """
    n_orders = ord_ptr.shape[0] - 1
    no = 0
    npair = 0
    out_ol_ptr[0] = 0
    best_s = np.empty(max_opt)
    best_k = np.empty(max_opt, np.int64)
    best_d = np.empty(max_opt, np.int64)
    best_l = np.empty(max_opt)
    best_sh = np.empty(max_opt)
    for o in range(n_orders):
        a = ord_ptr[o]
        b = ord_ptr[o + 1]
        L = b - a
        z = ord_zone[o]
        K = zn_ptr[z + 1] - zn_ptr[z]
        if K == 0 or L == 0:
            continue
        nodes = zn_node[zn_ptr[z]:zn_ptr[z + 1]]
        rank = np.empty((L, K), np.int64)
        il = np.empty((L, K), np.int64)
        tr = np.empty((L, K), np.int64)
        st = np.empty((L, K), np.int64)
        last = np.empty((L, K), np.int64)
        early = np.empty((L, K), np.int64)
        eany = np.empty((L, K), np.int64)
        av = np.empty((L, K))
        cost = np.empty((L, K))
        candidates_nb(cum, il_lt, cal_open, loc_cal, il_keys, nloc, item_cat, rule_ptr, rule_loc, rule_rank,
                      rule_item, rule_cat, lane_transit, lane_cpu, lane_cps, z,
                      line_item[a:b], line_qty[a:b], line_qty[a:b], line_req[a:b], date_kind, max_late, nodes, K,
                      rank, il, tr, st, last, early, eany, av, cost)
        p = 0
        while p < L:
            q = p
            while q < L and line_unit[a + q] == line_unit[a + p]:
                q += 1
            nb_ = 0
            for k in range(K):
                d = -1
                ok = True
                for i in range(p, q):
                    e = early[i, k]
                    if e < 0:
                        ok = False
                        break
                    if e > d:
                        d = e
                if not ok:
                    continue
                late = 0.0
                ship = 0.0
                for i in range(p, q):
                    if d > last[i, k]:
                        ok = False
                        break
                    due = d + tr[i, k] if date_kind == DATE_ARRIVAL else d
                    if due > line_req[a + i]:
                        late += (due - line_req[a + i]) * line_qty[a + i]
                    ship += line_qty[a + i] * lane_cpu[z, nodes[k]]
                if not ok:
                    continue
                score = late * late_weight + ship + lane_cps[z, nodes[k]]
                # insert into the sorted best list
                if nb_ < max_opt:
                    j = nb_
                    nb_ += 1
                elif score < best_s[nb_ - 1]:
                    j = nb_ - 1
                else:
                    continue
                while j > 0 and best_s[j - 1] > score:
                    best_s[j] = best_s[j - 1]
                    best_k[j] = best_k[j - 1]
                    best_d[j] = best_d[j - 1]
                    best_l[j] = best_l[j - 1]
                    best_sh[j] = best_sh[j - 1]
                    j -= 1
                best_s[j] = score
                best_k[j] = k
                best_d[j] = d
                best_l[j] = late
                best_sh[j] = ship
            for j in range(nb_):
                k = best_k[j]
                out_unit[no] = line_unit[a + p]
                out_node[no] = nodes[k]
                out_bucket[no] = best_d[j]
                out_transit[no] = tr[p, k]
                out_late[no] = best_l[j]
                out_ship[no] = best_sh[j]
                out_score[no] = best_s[j]
                for i in range(p, q):
                    out_ol_il[npair] = il[i, k]
                    out_ol_line[npair] = a + i
                    npair += 1
                no += 1
                out_ol_ptr[no] = npair
            p = q
    return no, npair


@njit(cache=True, nogil=True)
def availability_pools_nb(cum, il_lt, e_il, e_bucket, e_qty, e_opt, count_only,
                          out_cap, out_il, out_bucket, out_prev, out_use_opt, out_use_pool, out_use_amt,
                          out_inc_opt, out_inc_pool, out_inc_amt):
    """Availability pools of the batch model from option-line entries sorted by (il, bucket).

    For each item-location, with option buckets b_1 < ... < b_m: what options at buckets <= b_j
    take stays within the minimum of the cumulative position over [b_j, b_{j+1}) (up to the
    lead time; unlimited after).  Only pools that could bind are emitted, each with its full
    use (every entry up to b_j) and, for a compact model, its increment over the previous pool
    of the same item-location (``out_prev``).  With `count_only`, nothing is written.
    Returns (n_pools, n_uses, n_increments).
    """
    n = e_il.shape[0]
    H = cum.shape[1]
    npool = 0
    nuse = 0
    ninc = 0
    s = 0
    while s < n:
        ilc = e_il[s]
        t = s
        while t < n and e_il[t] == ilc:
            t += 1
        lt = il_lt[ilc]
        end = H if lt < 0 else min(lt, H)
        taken = 0.0
        prev = -1
        inc_from = s
        p = s
        while p < t:
            b = e_bucket[p]
            q = p
            while q < t and e_bucket[q] == b:
                taken += e_qty[q]
                q += 1
            nxt = e_bucket[q] if q < t else end
            seg_end = nxt if nxt < end else end
            if b < seg_end:
                m = np.inf
                for x in range(b, seg_end):
                    if cum[ilc, x] < m:
                        m = cum[ilc, x]
                cap = m if m > 0.0 else 0.0
                if taken > cap + EPS:
                    if not count_only:
                        out_cap[npool] = cap
                        out_il[npool] = ilc
                        out_bucket[npool] = b
                        out_prev[npool] = prev
                        for r in range(s, q):
                            out_use_opt[nuse] = e_opt[r]
                            out_use_pool[nuse] = npool
                            out_use_amt[nuse] = e_qty[r]
                            nuse += 1
                        for r in range(inc_from, q):
                            out_inc_opt[ninc] = e_opt[r]
                            out_inc_pool[ninc] = npool
                            out_inc_amt[ninc] = e_qty[r]
                            ninc += 1
                    else:
                        nuse += q - s
                        ninc += q - inc_from
                    prev = npool
                    inc_from = q
                    npool += 1
            p = q
        s = t
    return npool, nuse, ninc
